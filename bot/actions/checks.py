"""What a status check or a withdrawal keeps in the conversation while it runs, and
forgetting it.

A check holds a tracking number and a proof (the ID number's last four or a phone
number: personal data), or an ID number and a phone; a withdrawal also its yes. All of it
is forgotten whenever a check ends — found, not found, left (算了, 不查了, 转人工, a
greeting, a question, another application) or throttled — so a later check never reuses
a number or a proof without asking.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

STATUS_SLOTS = (
    "tracking_number",
    "status_proof",
    "lookup_id_number",
    "lookup_phone",
    "lookup_mode",
)
WITHDRAWAL_SLOTS = (
    "withdrawal_number",
    "withdrawal_proof",
    "withdrawal_confirmed",
    "withdrawal_owned",
    "withdrawal_offer",
)
CHECK_FORMS = frozenset({"status_form", "withdrawal_form"})


def forget_checks() -> list[EventType]:
    """Events that drop everything a status check or a withdrawal was given."""
    return [SlotSet(slot, None) for slot in (*STATUS_SLOTS, *WITHDRAWAL_SLOTS)]


class ActionLeaveCheck(Action):
    """Runs when the resident leaves a status check or a withdrawal (the rules, right
    after the form is deactivated)."""

    def name(self) -> str:
        return "action_leave_check"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return forget_checks()
