"""Words the store sends residents, read from the assistant's domain (domain.yml), where
staff edit every resident-facing text: a status change is told with the same sentence a
status check gives (`utter_status_line` and `utter_next_step_<status>`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from backend.config import REPO_ROOT
from backend.lifecycle import NOTE_REQUIRED, SERVICE_LABELS, STATUS_LABELS, STATUSES
from backend.models import Application
from backend.ratings.states import SUBJECTS
from backend.tracking import local_day

DOMAIN_FILE = REPO_ROOT / "domain.yml"


@dataclass(frozen=True)
class ResidentTexts:
    status_line: str
    next_steps: dict[str, str]
    rating_invite: str
    rating_follow_up: str
    rating_subjects: dict[str, str]

    @classmethod
    def from_domain(cls, path: Path = DOMAIN_FILE) -> ResidentTexts:
        """Read once at start-up; a missing response stops the store from starting."""
        responses = yaml.safe_load(path.read_text(encoding="utf-8"))["responses"]

        def first(name: str) -> str:
            return responses[name][0]["text"]

        return cls(
            status_line=first("utter_status_line"),
            next_steps={status: first(f"utter_next_step_{status}") for status in STATUSES},
            rating_invite=first("utter_rating_invite"),
            rating_follow_up=first("utter_rating_invite_follow_up"),
            rating_subjects={kind: first(f"utter_rating_subject_{kind}") for kind in SUBJECTS},
        )

    def invitation(self, subject: str, follow_up: bool = False) -> str:
        """The invitation to rate; the follow-up one says the problem was dealt with."""
        template = self.rating_follow_up if follow_up else self.rating_invite
        return template.format(subject=subject)

    def rating_subject(self, kind: str, application: Application | None = None) -> str:
        if application is None:
            return self.rating_subjects[kind]
        return self.rating_subjects[kind].format(
            service=SERVICE_LABELS[application.service_type],
            tracking_number=application.tracking_number,
        )

    def status_notice(self, application: Application, note: str | None) -> str:
        reason = f"（{note}）" if note and application.status in NOTE_REQUIRED else ""
        day = local_day(application.status_changed_at)
        return self.status_line.format(
            service=SERVICE_LABELS[application.service_type],
            tracking_number=application.tracking_number,
            status=STATUS_LABELS[application.status] + reason,
            day=f"{day.month}月{day.day}日",
            next_step=self.next_steps[application.status],
        )
