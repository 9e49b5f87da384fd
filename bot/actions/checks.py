"""What a status check or a withdrawal keeps in the conversation while it runs, and
forgetting it.

A check holds a tracking number and a proof (the ID number's last four or a phone
number: personal data), or an ID number and a phone; a withdrawal also its yes. All of it
is forgotten whenever a check ends — found, not found, left (算了, 不查了, 转人工, a
greeting, a question, another application) or throttled — so a later check never reuses
a number or a proof without asking. Both read the number and the proof alike, and ask
for a wrong proof again alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
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


@dataclass(frozen=True)
class ProofQuestion:
    """Where a check by tracking number keeps the number and the proof, and the form
    that asks for them: the status check's, or the withdrawal's."""

    form: str
    number_slot: str
    proof_slot: str


def number_and_proof(question: ProofQuestion, found: dict[str, str]) -> list[EventType]:
    """The tracking number and the proof found in a message (「DA… 尾号0042」,
    `reading.lookup_values_in`), as typed, in the question's slots: its form reads them."""
    slot_of = {"tracking_number": question.number_slot, "status_proof": question.proof_slot}
    return [SlotSet(slot_of[name], value) for name, value in found.items()]


def ask_proof_again(
    dispatcher: CollectingDispatcher, question: ProofQuestion, number: str
) -> list[EventType]:
    """The store found no application with this number and proof. A digit mistyped is
    the likeliest cause: the proof is asked again, keeping the number (a corrected one
    may be sent with it), until the store's throttling says to wait."""
    dispatcher.utter_message(response="utter_lookup_no_match", tracking_number=number)
    return [
        SlotSet(question.number_slot, number),
        SlotSet(question.proof_slot, None),
        FollowupAction(question.form),
    ]


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
