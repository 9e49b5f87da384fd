"""Validation of the guided application forms.

Every message is read for every value it holds (`reading.values_in`), at the start of
an application, at any question and at the summary, so the form asks only for what is
still missing and a summary is corrected by saying what is wrong. A value that cannot
be used gets a kind re-prompt (`utter_invalid_<slot>_<reason>`, staff-editable in the
domain); after `max_field_failures` unusable answers to one question the form stops,
keeping what was already given, and the resident is offered a person instead of a loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from bot.actions import places, reading, validation
from bot.actions.applications import SERVICE_OF_INTENT
from bot.actions.faq import CONFIDENT, understanding
from bot.actions.settings import settings
from bot.actions.validation import InvalidValue
from personaldata.masks import mask_id_number, mask_phone

Slots = dict[str, Any]

# Intents the rules answer instead of the form: leaving, a person, another application.
INTERRUPTIONS = frozenset(
    {"cancel", "ask_human", "greet", "check_status", "delete_conversation", *SERVICE_OF_INTENT}
)


def applicant_name(text: str) -> str:
    """A person's name that is not also a place (何市 is a town, not an applicant)."""
    name = validation.person_name(text)
    if name in places.township_names():
        raise InvalidValue("format")
    return name


# A bare name is sometimes mistaken for another intent (查进度 reads as a name too: 查 is
# a surname), so only a clear request to leave or switch wins over a readable answer.
INTERRUPTION_CONFIDENCE = 0.8


def intent_confidence(message: dict) -> float:
    return float((message.get("intent") or {}).get("confidence", 1.0))


# Free-text accounts: a phone or a place told inside one is part of the story.
ACCOUNTS = frozenset({"house_condition", "incident"})

# What a usable answer to each question looks like (each form asks some of them).
READERS: dict[str, Callable[[str], Any]] = {
    "applicant_name": applicant_name,
    "id_number": validation.id_number,
    "phone": validation.mobile_phone,
    "township": places.township,
    "household_size": validation.household_size,
    "house_condition": validation.house_condition,
    "incident": validation.incident,
}


def first(value: Any) -> str:
    """Two mappings or two entities can fill a slot with a list; the first one counts."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


def refusal_reason(slot: str, text: str) -> str | None:
    """Why the text is not a usable answer to the question, or None if it is."""
    try:
        READERS[slot](text)
    except InvalidValue as error:
        return error.reason
    return None


def readable(slot: str, text: str) -> bool:
    return refusal_reason(slot, text) is None


def checked(slot: str) -> Callable[..., Any]:
    """A `validate_<slot>` method that only reads the answer and explains a bad one."""

    async def validate(
        self: ApplicationFormValidation,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Slots:
        return self.check(slot, value, dispatcher, tracker)

    return validate


class ApplicationFormValidation(FormValidationAction):
    """Checks shared by every application form; subclasses name their form."""

    form = ""
    derived: ClassVar[dict[str, Callable[[Any], Slots]]] = {
        "id_number": lambda number: {"id_number_masked": mask_id_number(number)},
        "phone": lambda number: {"phone_masked": mask_phone(number)},
    }

    def name(self) -> str:
        return f"validate_{self.form}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return events + self.key_for_summary(tracker, domain)

    def key_for_summary(self, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        """The idempotency key, made when every answer is in and the summary is shown.

        Saved with that turn, before the store is ever called: if Rasa dies during the
        submission turn, the resident's next 「对」 sends the same key and the store
        answers with the application it already made instead of making a second one.
        `tracker.slots` holds this turn's validated answers (rasa_sdk adds them).
        """
        answers = [slot for slot in self.domain_slots(domain) if slot != "confirmed"]
        if tracker.get_slot("submission_key"):
            return []
        if any(tracker.slots.get(slot) is None for slot in answers):
            return []
        return [SlotSet("submission_key", uuid.uuid4().hex)]

    def answer_slots(self, domain: DomainDict) -> list[str]:
        return [slot for slot in self.domain_slots(domain) if slot in READERS]

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Every value the message holds, and the reply to the question just asked.

        The intent alone cannot decide: short answers such as a bare name are often
        mistaken for questions. A reply that is a usable value is taken whatever its
        intent; anything else is taken (and explained) unless it was a confident
        knowledge-base question, a request to stop or for a person, a greeting or
        another application, which the rules then handle.
        """
        requested = tracker.get_slot("requested_slot")
        message = tracker.latest_message
        text = message.get("text") or ""
        intent = (message.get("intent") or {}).get("name")
        slots = self.answer_slots(domain)
        at_summary = requested == "confirmed"
        found = {} if requested in ACCOUNTS else reading.values_in(text, slots, at_summary)
        if not at_summary:
            # Values said in passing fill what is missing; changing a given one is for the
            # summary (「有事找我儿子138…」 in an account is not the applicant's phone).
            found = {slot: value for slot, value in found.items() if not tracker.get_slot(slot)}
        if requested in READERS and requested not in found:
            found.update(self.reply_to_question(requested, text, found, message, intent))
        if at_summary and not found and "confirmed" not in tracker.slots_to_validate():
            return self.summary_events(text, slots, intent, message)
        return [SlotSet(slot, value) for slot, value in found.items()]

    def reply_to_question(
        self, slot: str, text: str, found: dict[str, str], message: dict, intent: str | None
    ) -> dict[str, str]:
        if found:
            # Other values were found: what is left may still answer the question.
            rest = text
            for value in found.values():
                rest = rest.replace(value, " ")
            return {slot: rest} if readable(slot, rest) else {}
        if intent in INTERRUPTIONS and intent_confidence(message) >= INTERRUPTION_CONFIDENCE:
            return {}
        # A "no" that means "stop" (the contract's deny examples include 算了不用).
        if intent == "deny" and validation.says_stop(text):
            return {}  # 「算了」: the rules stop the form
        if readable(slot, text):
            return {slot: text}
        if refusal_reason(slot, text) == "not_a_name":
            return {slot: text}  # 「隔壁王嬢嬢」 is an answer, whatever topic it resembles
        if intent in INTERRUPTIONS or understanding(message) == CONFIDENT:
            return {}
        if intent == "faq" and validation.asks_something(text):
            return {}  # a question, even an unclear one, gets its did-you-mean first
        return {slot: text}

    def summary_events(
        self, text: str, slots: list[str], intent: str | None, message: dict
    ) -> list[EventType]:
        """At the summary: a field said to be wrong is asked again; other text explained."""
        wrong = reading.fields_said_wrong(text, slots)
        if wrong:
            return [SlotSet(slot, None) for slot in wrong]
        leaves_form = intent in INTERRUPTIONS or understanding(message) == CONFIDENT
        if intent in ("affirm", "deny") or leaves_form:
            return []
        return [SlotSet("confirmed", False)]

    def accept(self, slot: str, value: Any, tracker: Tracker, **derived: Any) -> Slots:
        attempts = dict(tracker.get_slot("failed_attempts") or {})
        attempts.pop(slot, None)
        return {slot: value, "failed_attempts": attempts, "gave_up": False, **derived}

    def refuse(
        self, slot: str, reason: str, dispatcher: CollectingDispatcher, tracker: Tracker, **fill
    ) -> Slots:
        attempts = dict(tracker.get_slot("failed_attempts") or {})
        attempts[slot] = attempts.get(slot, 0) + 1
        if attempts[slot] >= settings.max_field_failures:
            attempts.pop(slot)
            # Ending the form here keeps every slot already filled for a later try.
            return {
                slot: None,
                "failed_attempts": attempts,
                "gave_up": True,
                "requested_slot": None,
            }
        dispatcher.utter_message(response=f"utter_invalid_{slot}_{reason}", **fill)
        return {slot: None, "failed_attempts": attempts}

    def check(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Slots:
        if value is None:
            return {slot: None}  # cleared by a correction: the form asks again
        try:
            read = READERS[slot](first(value))
        except InvalidValue as error:
            return self.refuse(slot, error.reason, dispatcher, tracker, **self.fill(slot))
        derived = self.derived.get(slot, lambda _: {})(read)
        return self.accept(slot, read, tracker, **derived)

    def fill(self, slot: str) -> dict[str, Any]:
        """Variables of a slot's re-prompts."""
        if slot == "township":
            return {"townships": places.unit_list()}
        if slot == "id_number":
            return {"age": settings.elderly_card_min_age}
        return {}

    async def validate_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        slots = self.check("id_number", value, dispatcher, tracker)
        number = slots.get("id_number")
        too_young = number and validation.age_on(number) < settings.elderly_card_min_age
        if self.form == "elderly_card_form" and too_young:
            return self.refuse(
                "id_number", "too_young", dispatcher, tracker, **self.fill("id_number")
            )
        return slots

    validate_applicant_name = checked("applicant_name")
    validate_phone = checked("phone")
    validate_township = checked("township")
    validate_household_size = checked("household_size")
    validate_house_condition = checked("house_condition")
    validate_incident = checked("incident")

    async def validate_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        if value is True and validation.hesitates(tracker.latest_message.get("text") or ""):
            dispatcher.utter_message(response="utter_take_your_time")
            return {"confirmed": None}
        if value is True:
            # Made once per application, so a retry after an outage submits it only once.
            key = tracker.get_slot("submission_key") or uuid.uuid4().hex
            return {"confirmed": True, "submission_key": key}
        corrected = set(tracker.slots_to_validate()) - {"confirmed"}
        if not corrected:
            dispatcher.utter_message(response="utter_how_to_correct")
        return {"confirmed": None}


class ValidateElderlyCardForm(ApplicationFormValidation):
    form = "elderly_card_form"


class ValidateSubsistenceForm(ApplicationFormValidation):
    form = "subsistence_form"


class ValidateHousingForm(ApplicationFormValidation):
    form = "housing_form"


class ValidateReliefForm(ApplicationFormValidation):
    form = "relief_form"
