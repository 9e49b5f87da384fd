"""JSON shapes of applications. Personal data only ever leaves masked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backend.crypto import FieldCipher
from backend.lifecycle import SERVICE_LABELS, STATUS_LABELS, allowed_next
from backend.models import Application, StatusChange
from backend.tracking import CHINA_TZ
from personaldata.masks import mask_id_number, mask_name, mask_phone


def timestamp(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).isoformat(timespec="seconds")


def summary(application: Application, cipher: FieldCipher) -> dict[str, Any]:
    return {
        "tracking_number": application.tracking_number,
        "service_type": application.service_type,
        "service_label": SERVICE_LABELS[application.service_type],
        "status": application.status,
        "status_label": STATUS_LABELS[application.status],
        "status_changed_at": timestamp(application.status_changed_at),
        "created_at": timestamp(application.created_at),
        "township": application.township,
        "applicant_name": mask_name(cipher.decrypt(application.applicant_name_enc)),
    }


def staff_summary(application: Application, cipher: FieldCipher) -> dict[str, Any]:
    """The list entry staff see: with the application it may repeat, never shown to
    residents (a resident's answer must not tell who else applied)."""
    return {
        **summary(application, cipher),
        "possible_duplicate_of": application.possible_duplicate_of,
    }


def summaries(applications: list[Application], cipher: FieldCipher) -> dict[str, Any]:
    return {"applications": [summary(item, cipher) for item in applications]}


def _applicant(application: Application, cipher: FieldCipher) -> dict[str, str]:
    return {
        "name": mask_name(cipher.decrypt(application.applicant_name_enc)),
        "id_number": mask_id_number(cipher.decrypt(application.id_number_enc)),
        "phone": mask_phone(cipher.decrypt(application.phone_enc)),
    }


def _resident_entry(change: StatusChange) -> dict[str, Any]:
    return {
        "status": change.to_status,
        "status_label": STATUS_LABELS[change.to_status],
        "changed_at": timestamp(change.changed_at),
        "note": change.note,
    }


def resident_detail(application: Application, cipher: FieldCipher) -> dict[str, Any]:
    """What the applicant sees: the stages, never which staff member acted."""
    view = summary(application, cipher)
    del view["applicant_name"]
    view["applicant"] = _applicant(application, cipher)
    view["history"] = [_resident_entry(change) for change in application.history]
    return view


def staff_detail(application: Application, cipher: FieldCipher) -> dict[str, Any]:
    view = resident_detail(application, cipher)
    view.update(
        channel=application.channel,
        conversation_id=application.conversation_id,
        details=cipher.decrypt_json(application.details_enc),
        allowed_transitions=allowed_next(application.status),
        privacy_notice=application.privacy_notice,
        anonymised=application.anonymised_at is not None,
        possible_duplicate_of=application.possible_duplicate_of,
        history=[
            {**_resident_entry(change), "from_status": change.from_status, "actor": change.actor}
            for change in application.history
        ],
    )
    return view


def created(application: Application, *, replayed: bool) -> dict[str, Any]:
    return {
        "tracking_number": application.tracking_number,
        "status": application.status,
        "status_label": STATUS_LABELS[application.status],
        "created_at": timestamp(application.created_at),
        "replayed": replayed,
    }
