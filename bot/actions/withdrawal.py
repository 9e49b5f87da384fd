"""Withdrawing a submitted application, honestly.

「不想办了」 with no form open may mean an application already submitted: the assistant
looks up what this conversation submitted and offers to withdraw it by its tracking
number, after a confirmation; from another conversation the number and a proof are
asked. It never says nothing was submitted when something was.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from bot.actions import reading, validation
from bot.actions.applications import ended, leave_application, pending_outcome
from bot.actions.checks import ProofQuestion, ask_proof_again, forget_checks, number_and_proof
from bot.actions.faq import application_of_bare_request
from bot.actions.forms import first
from bot.actions.status import describe, first_read, read_as, stop_intents
from bot.actions.store_client import (
    ApplicationSummary,
    StoreRejected,
    StoreUnavailable,
    shared_client,
)
from bot.actions.throttling import tell_to_wait
from bot.actions.validation import InvalidValue

# The lifecycle allows withdrawal until a decision is made (shared/spec/intents.md).
WITHDRAWABLE = frozenset({"submitted", "township_review", "district_review", "returned"})
# A cancel that names an application, not just 「算了」.
# 「那个申请不想办了」: no withdrawal word, but about an application made.
NO_LONGER_WANTED = re.compile(r"申请.*不(?:想|要)?办|不(?:想|要)?办.*申请")
NO = re.compile(r"不|别|算了|莫|没")
WITHDRAWAL = ProofQuestion("withdrawal_form", "withdrawal_number", "withdrawal_proof")


def clearly_yes(text: str, number: str | None = None) -> bool:
    """确认撤回, 对, 要得, 「撤回DA…」 naming the number asked about — not 「您好」,
    「好的我再想想」, 「不确认」, nor another application's number."""
    text, named_another = without_the_number(text, number)
    if named_another:
        return False
    said = re.sub(r"[\s，,。.!！~～…嘛哈噻嗯]", "", text)
    if NO.search(said) or validation.hesitates(said):
        return False
    for word in sorted(validation.lexicon()["withdrawal_yes"], key=len, reverse=True):
        said = said.replace(word, "")
    return bool(text.strip()) and not said


def without_the_number(text: str, number: str | None) -> tuple[str, bool]:
    """The text without the tracking numbers that are `number` (however typed), and
    whether it names another one."""
    named_another = False

    def dropped(match: re.Match[str]) -> str:
        nonlocal named_another
        named_another |= validation.tracking_number(match.group(0)) != number
        return " "

    return reading.TRACKING_NUMBER.sub(dropped, validation.normalise_width(text)), named_another


def tracking_number_in(tracker: Tracker) -> str | None:
    try:
        return validation.tracking_number(tracker.latest_message.get("text") or "")
    except InvalidValue:
        return None


async def own_applications(tracker: Tracker) -> list[ApplicationSummary]:
    return await shared_client().list_for_conversation(tracker.sender_id)


class ActionOfferWithdrawal(Action):
    """A cancel with no form open: offer to withdraw what was submitted, or say so."""

    def name(self) -> str:
        return "action_offer_withdrawal"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        if application_of_bare_request(text, tracker.get_slot("last_topic")):
            # 「我要申请」 after a 低保 answer, taken by the classifier for 「我不申请了」.
            return [FollowupAction("action_start_application")]
        if tracker.get_slot("application_outcome") == "unavailable":
            # Leaving an application whose submission got no answer: say what exists.
            events = leave_application(dispatcher, await pending_outcome(tracker))
            explained = SlotSet("withdrawal_offer", "explained")
            return [*events, *ended(None), explained]
        # A withdrawal starts clean: nothing an earlier check left is taken without asking.
        return [*forget_checks(), *await self.offer(dispatcher, tracker, domain, text)]

    async def offer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], text: str
    ) -> list[EventType]:
        """What this conversation submitted decides: offer one, ask which, or say why not."""
        number = tracking_number_in(tracker)
        try:
            own = await own_applications(tracker)
        except StoreUnavailable:
            dispatcher.utter_message(response="utter_withdrawal_store_down")
            return [SlotSet("withdrawal_offer", "explained")]
        open_ones = [item for item in own if item.status in WITHDRAWABLE]
        if not number and len(open_ones) == 1:
            number = open_ones[0].tracking_number
        if number:
            owned = any(item.tracking_number == number for item in own)
            # 「撤回DA… 尾号0042」: the proof said with the number is the form's to read.
            proof = reading.lookup_values_in(text).get("status_proof")
            return [
                SlotSet("withdrawal_number", number),
                SlotSet("withdrawal_owned", owned),
                *([SlotSet("withdrawal_proof", proof)] if proof and not owned else []),
                SlotSet("withdrawal_offer", "form"),
            ]
        if open_ones:
            lines = "\n".join(describe(domain, item) for item in open_ones)
            dispatcher.utter_message(response="utter_withdrawal_which", applications=lines)
            return [SlotSet("withdrawal_offer", "form")]
        if own:
            lines = "\n".join(describe(domain, item) for item in own)
            dispatcher.utter_message(response="utter_withdrawal_not_possible", applications=lines)
            return [SlotSet("withdrawal_offer", "explained")]
        if validation.asks_to_withdraw(text) or NO_LONGER_WANTED.search(text):
            return [SlotSet("withdrawal_offer", "form")]
        return [SlotSet("withdrawal_offer", "nothing")]


class ValidateWithdrawalForm(FormValidationAction):
    """Number (asked only if not known), proof (only for another conversation's), yes/no."""

    def name(self) -> str:
        return "validate_withdrawal_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot("withdrawal_owned"):
            return [slot for slot in domain_slots if slot != "withdrawal_proof"]
        return domain_slots

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = tracker.get_slot("requested_slot")
        text = tracker.latest_message.get("text") or ""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if requested == "withdrawal_confirmed":
            # Withdrawing cannot be undone online: anything but a clear yes keeps it.
            # 「撤回DA…」 again, with the number asked about, is a yes.
            number = tracker.get_slot("withdrawal_number")
            return [SlotSet("withdrawal_confirmed", clearly_yes(text, number))]
        if requested not in ("withdrawal_number", "withdrawal_proof"):
            return []
        # 「DA… 尾号0042」: the number and the proof, whichever of the two was asked (after
        # 「没有对上」, the right number may come at the proof's question).
        found = reading.lookup_values_in(text)
        if found:
            return number_and_proof(WITHDRAWAL, found)
        if intent not in stop_intents():
            return [SlotSet(requested, text)]
        return []

    async def validate_withdrawal_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"withdrawal_number": None}  # cleared as the withdrawal starts
        try:
            number = validation.tracking_number(first(value))
        except InvalidValue:
            dispatcher.utter_message(response="utter_invalid_tracking_number")
            return {"withdrawal_number": None}
        try:
            own = await own_applications(tracker)
        except StoreUnavailable:
            own = []  # then the proof is asked, which works without the list
        owned = any(item.tracking_number == number for item in own)
        return {"withdrawal_number": number, "withdrawal_owned": owned}

    # The proof reads and is refused like the status lookup's.
    read_withdrawal_proof = read_as("withdrawal_proof", validation.status_proof)

    async def validate_withdrawal_proof(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The proof is checked with the store now, so the yes is only ever asked for an
        application the resident has shown to be theirs."""
        read = await self.read_withdrawal_proof(value, dispatcher, tracker, domain)
        number = first_read(validation.tracking_number, tracker.get_slot("withdrawal_number"))
        if read["withdrawal_proof"] is None or number is None:
            return read  # asked again, or checked once the number is known
        return await proof_checked(dispatcher, tracker, number, read["withdrawal_proof"])


async def proof_checked(
    dispatcher: CollectingDispatcher, tracker: Tracker, number: str, proof: str
) -> dict[str, Any]:
    """The proof kept when it matches; asked again when not; the withdrawal ended
    without a yes (and explained) when the store makes the resident wait or is down."""
    try:
        found = await shared_client().lookup(number, proof, tracker.sender_id)
    except StoreUnavailable:
        dispatcher.utter_message(response="utter_withdrawal_store_down")
        return ended_unconfirmed(proof)
    except StoreRejected as error:
        if error.code != "too_many_attempts":
            raise
        tell_to_wait(dispatcher, error)
        return ended_unconfirmed(proof)
    if found is None:
        dispatcher.utter_message(response="utter_lookup_no_match", tracking_number=number)
        return {"withdrawal_proof": None}
    return {"withdrawal_proof": proof}


def ended_unconfirmed(proof: str) -> dict[str, Any]:
    """Every question answered but the yes refused, and marked explained: the form ends
    and the withdrawal adds nothing to what was just said."""
    return {
        "withdrawal_proof": proof,
        "withdrawal_confirmed": False,
        "withdrawal_offer": "explained",
    }


def at_the_confirmation(tracker: Tracker) -> bool:
    """The number is known and the application shown to be theirs: the question the
    resident just answered was 「确定要撤回…吗？」."""
    proved = tracker.get_slot("withdrawal_owned") or tracker.get_slot("withdrawal_proof")
    explained = tracker.get_slot("withdrawal_offer") == "explained"
    return bool(tracker.get_slot("withdrawal_number") and proved) and not explained


def not_an_answer_to_the_yes(text: str) -> str | None:
    """The response for a reply to 「确定要撤回…吗？」 that is neither yes nor no: a
    question (「撤了以后还能不能再申请」) is answered, a proof typed again is said not to
    be needed; both then ask again. None for a no."""
    if validation.says_stop(text):
        return None
    if validation.asks_something(text):
        return "utter_withdrawal_question"
    if first_read(validation.status_proof, text):
        return "utter_withdrawal_proof_not_needed"
    return None


class ActionWithdrawApplication(Action):
    """Runs when the withdrawal form ends: withdraws after a yes and says what happened."""

    def name(self) -> str:
        return "action_withdraw_application"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        number = tracker.get_slot("withdrawal_number")
        if tracker.get_slot("withdrawal_confirmed") is not True or not number:
            return self.not_withdrawn(dispatcher, tracker)
        proof = (
            None if tracker.get_slot("withdrawal_owned") else tracker.get_slot("withdrawal_proof")
        )
        try:
            withdrawn = await shared_client().withdraw(number, tracker.sender_id, proof=proof)
        except StoreUnavailable:
            dispatcher.utter_message(response="utter_withdrawal_store_down")
            return forget_checks()
        except StoreRejected as error:
            if error.code == "not_found" and proof is not None:
                # Asked again like a status check's proof; the yes was for this number,
                # so it is asked again too, beside the number (which may be corrected).
                asked_again = ask_proof_again(dispatcher, WITHDRAWAL, number)
                return [*asked_again, SlotSet("withdrawal_confirmed", None)]
            self.explain_refusal(dispatcher, error, number)
            return forget_checks()
        dispatcher.utter_message(
            response="utter_withdrawn",
            tracking_number=withdrawn.tracking_number,
            service=withdrawn.service_label,
        )
        return forget_checks()

    def not_withdrawn(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        """No clear yes: a question or digits at the confirmation ask for it again;
        otherwise kept (said once: a refusal already explained is not repeated)."""
        reply = not_an_answer_to_the_yes(tracker.latest_message.get("text") or "")
        if reply and at_the_confirmation(tracker):
            dispatcher.utter_message(response=reply)
            return [SlotSet("withdrawal_confirmed", None), FollowupAction("withdrawal_form")]
        if tracker.get_slot("withdrawal_offer") != "explained":
            dispatcher.utter_message(response="utter_withdrawal_kept")
        return forget_checks()

    def explain_refusal(
        self, dispatcher: CollectingDispatcher, error: StoreRejected, number: str
    ) -> None:
        if error.code == "not_withdrawable":
            status = error.details.get("current_status_label") or error.details.get(
                "current_status", ""
            )
            dispatcher.utter_message(
                response="utter_withdrawal_too_late", tracking_number=number, status=status
            )
        elif error.code == "too_many_attempts":
            tell_to_wait(dispatcher, error)
        else:
            dispatcher.utter_message(response="utter_lookup_not_found")
