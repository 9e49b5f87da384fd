"""Telling residents where their applications stand, in plain words.

Own applications of this conversation are shown without proof; any other by its
tracking number with a proof, or — for a resident without the number — by the
applicant's ID number together with the phone number used. Every sentence is a
response in the domain (`utter_status_line`, `utter_next_step_<status>` …).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from bot.actions import reading, validation
from bot.actions.applications import SERVICE_OF_INTENT
from bot.actions.checks import ProofQuestion, ask_proof_again, forget_checks, number_and_proof
from bot.actions.store_client import (
    ApplicationStatus,
    ApplicationSummary,
    StoreRejected,
    StoreUnavailable,
    shared_client,
)
from bot.actions.throttling import tell_to_wait
from bot.actions.validation import InvalidValue

LOCAL_TIME = ZoneInfo("Asia/Shanghai")
# 「没有编号」, 「编号忘了」, 「不晓得号码」: switch to the lookup by ID number and phone.
NO_NUMBER = re.compile(
    r"(?:没有|没得|莫得|忘了|忘记|不晓得|不知道|找不到|弄丢|丢了|记不得).{0,4}(?:编号|号码|单号|号)|(?:编号|号码|单号).{0,4}(?:没有|没得|莫得|忘了|忘记|不晓得|不知道|找不到|丢了)"
)
STATUS_CHECK = ProofQuestion("status_form", "tracking_number", "status_proof")


def stop_intents() -> frozenset[str]:
    """Intents that leave a lookup instead of answering its question."""
    return frozenset(
        {"cancel", "deny", "ask_human", "greet", "goodbye", "thank", "faq", "out_of_scope"}
        | {"check_status", "complain", "rate_service", *SERVICE_OF_INTENT}
    )


def phrase(domain: DomainDict, response: str, **values: Any) -> str:
    """A staff-editable sentence from the domain, filled in."""
    text = domain["responses"][response][0]["text"]
    return text.format(**values)


def local_day(timestamp: str) -> str:
    moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    local = moment.astimezone(LOCAL_TIME)
    return f"{local.month}月{local.day}日"


def describe(
    domain: DomainDict,
    application: ApplicationSummary | ApplicationStatus,
    note: str | None = None,
) -> str:
    """One application's stage, when it last changed, and what to do next."""
    reason = f"（{note}）" if note and application.status in ("returned", "rejected") else ""
    return phrase(
        domain,
        "utter_status_line",
        service=application.service_label,
        tracking_number=application.tracking_number,
        status=application.status_label + reason,
        day=local_day(application.status_changed_at),
        next_step=phrase(domain, f"utter_next_step_{application.status}"),
    )


def latest_note(application: ApplicationStatus) -> str | None:
    """Why it was returned or rejected: the note of its last change."""
    return application.history[-1].note if application.history else None


def first_read(reader: Callable[[str], str], *typed: str | None) -> str | None:
    """The first of the typed values `reader` accepts, read; None if none is usable."""
    for value in typed:
        if not value:
            continue
        try:
            return reader(value)
        except InvalidValue:
            continue
    return None


def names_a_number(tracker: Tracker) -> bool:
    return any(e.get("entity") == "tracking_number" for e in tracker.latest_message["entities"])


def collected(tracker: Tracker, slot: str) -> Any:
    """A value the status form collected for this check. A check that starts (not right
    after its form) takes none: what an earlier check left behind, or the number of a
    submission, is never used without asking."""
    return tracker.get_slot(slot) if tracker.latest_action_name == "status_form" else None


class ActionCheckStatus(Action):
    """Own applications without proof; another by number and proof, or by ID and phone."""

    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if validation.asks_to_withdraw(tracker.latest_message.get("text") or ""):
            return [FollowupAction("action_offer_withdrawal")]  # 「撤回DA202612010007」
        if collected(tracker, "lookup_mode") == "stopped":
            dispatcher.utter_message(response="utter_lookup_stopped")
            return forget_checks()
        # 「查下DA… 尾号0042」: what the message holds counts with what the form asked.
        given = reading.lookup_values_in(tracker.latest_message.get("text") or "")
        number = first_read(
            validation.tracking_number,
            collected(tracker, "tracking_number"),
            given.get("tracking_number"),
        )
        proof = first_read(
            validation.status_proof, collected(tracker, "status_proof"), given.get("status_proof")
        )
        id_number, phone = (
            collected(tracker, "lookup_id_number"),
            collected(tracker, "lookup_phone"),
        )
        try:
            if number and proof:
                return await self.look_up(dispatcher, tracker, domain, number, proof)
            if id_number and phone:
                return await self.find(dispatcher, tracker, domain, id_number, phone)
            # Without a number named now, this conversation's own applications.
            if "tracking_number" not in given and not names_a_number(tracker):
                own = await shared_client().list_for_conversation(tracker.sender_id)
                if own:
                    lines = "\n".join(describe(domain, application) for application in own)
                    dispatcher.utter_message(response="utter_own_applications", applications=lines)
                    return forget_checks()
        except StoreUnavailable:
            dispatcher.utter_message(response="utter_lookup_store_down")
            return forget_checks()
        except StoreRejected as error:
            if error.code != "too_many_attempts":
                raise
            tell_to_wait(dispatcher, error)
            return forget_checks()
        # The form asks only what is missing (what an earlier check left is dropped, so
        # it is asked); a proof it cannot use (the phone's last four) is explained as the
        # form starts.
        prefilled = [SlotSet("tracking_number", number)] if number else []
        if "status_proof" in given:
            prefilled.append(SlotSet("status_proof", proof or given["status_proof"]))
        return [*forget_checks(), *prefilled, FollowupAction("status_form")]

    async def look_up(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        number: str,
        proof: str,
    ) -> list[EventType]:
        # The proof is personal data: used once, then forgotten.
        found = await shared_client().lookup(number, proof, tracker.sender_id)
        if found is None:
            return ask_proof_again(dispatcher, STATUS_CHECK, number)
        dispatcher.utter_message(text=describe(domain, found, latest_note(found)))
        return forget_checks()

    async def find(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        id_number: str,
        phone: str,
    ) -> list[EventType]:
        found = await shared_client().find_by_applicant(id_number, phone, tracker.sender_id)
        if not found:
            dispatcher.utter_message(response="utter_lookup_nothing_for_applicant")
        else:
            lines = "\n".join(
                describe(domain, application, latest_note(application)) for application in found
            )
            dispatcher.utter_message(response="utter_applicant_applications", applications=lines)
        return forget_checks()


def read_as(slot: str, reader: Callable[[str], str]) -> Callable[..., Any]:
    """A `validate_<slot>` method: the value read, or `utter_invalid_<slot>` and ask again."""

    async def validate(
        self: FormValidationAction,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if value is None:
            # A slot cleared as the check starts (Rasa validates it too): nothing typed.
            return {slot: None}
        try:
            return {slot: reader(str(value))}
        except InvalidValue as error:
            # A reason of its own where the domain has one (the phone's last four).
            specific = f"utter_invalid_{slot}_{error.reason}"
            known = specific in (domain.get("responses") or {})
            dispatcher.utter_message(response=specific if known else f"utter_invalid_{slot}")
            return {slot: None}

    return validate


class ValidateStatusForm(FormValidationAction):
    """Tracking number and proof — or, without the number, the ID number and phone."""

    def name(self) -> str:
        return "validate_status_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot("lookup_mode") == "stopped":
            return ["lookup_mode"]  # set: the form ends, and the lookup says it stopped
        if tracker.get_slot("lookup_mode") == "applicant":
            # lookup_mode is listed so that the switch itself is kept (only required
            # slots survive validation); it is set, so it is never asked.
            return ["lookup_mode", "lookup_id_number", "lookup_phone"]
        return domain_slots

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = tracker.get_slot("requested_slot")
        text = tracker.latest_message.get("text") or ""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if validation.says_stop(text):
            return [SlotSet("lookup_mode", "stopped")]  # 「不查了」, whatever the intent
        numbers = reading.values_in(text, ("id_number", "phone"))
        given = {f"lookup_{slot}": value for slot, value in numbers.items()}
        # 「DA… 尾号0042」: the number and the proof, whichever of the two was asked.
        lookup = reading.lookup_values_in(text)
        if requested == "tracking_number" and "tracking_number" in lookup:
            return number_and_proof(STATUS_CHECK, lookup)
        # No number, but the applicant's ID (and phone) given, or said to be missing.
        without_number = "lookup_id_number" in given or NO_NUMBER.search(text)
        if requested == "tracking_number" and without_number:
            mode = SlotSet("lookup_mode", "applicant")
            return [mode, *(SlotSet(slot, value) for slot, value in given.items())]
        if requested in ("tracking_number", "status_proof") and lookup:
            return number_and_proof(STATUS_CHECK, lookup)
        if requested in ("lookup_id_number", "lookup_phone") and given:
            return [SlotSet(slot, value) for slot, value in given.items()]
        if requested and intent not in stop_intents():
            return [SlotSet(requested, text)]
        return []

    async def validate_lookup_mode(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"lookup_mode": value}

    validate_tracking_number = read_as("tracking_number", validation.tracking_number)
    validate_status_proof = read_as("status_proof", validation.status_proof)
    validate_lookup_id_number = read_as("lookup_id_number", validation.id_number)
    validate_lookup_phone = read_as("lookup_phone", validation.mobile_phone)
