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
from bot.actions.applications import FORM_OF_SERVICE, SERVICE_OF_INTENT
from bot.actions.faq import CONFIDENT, requested_application, understanding
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
# Requests that win even over a reply about the question asked (「我没得手机 转人工」).
STOPS = frozenset({"cancel", "ask_human", "delete_conversation"})
# Replies that are refused without counting as a failed answer (towards stopping the
# form): a question about the help is not a wrong answer.
UNCOUNTED_REASONS = frozenset({"question"})


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
        if requested == "confirmed":
            return self.summary_events(tracker, slots)
        if self.asks_for_another_application(text):
            return []  # 「我还是先办老年证」 read as a question: the triage switches
        found = {} if requested in ACCOUNTS else reading.values_in(text, slots)
        # Values said in passing fill what is missing; changing a given one is for the
        # summary (「有事找我儿子138…」 in an account is not the applicant's phone).
        found = {slot: value for slot, value in found.items() if not tracker.get_slot(slot)}
        if requested in READERS and requested not in found:
            found.update(self.reply_to_question(requested, text, found, message, intent))
        # In the form's order, so the name is checked before the ID number that may
        # take it away (validate_id_number).
        return [SlotSet(slot, found[slot]) for slot in slots if slot in found]

    def reply_to_question(
        self, slot: str, text: str, found: dict[str, str], message: dict, intent: str | None
    ) -> dict[str, str]:
        if found:
            # Other values were found: what is left may still answer the question.
            rest = text
            for value in found.values():
                rest = rest.replace(value, " ")
            return {slot: rest} if readable(slot, rest) else {}
        reason = refusal_reason(slot, text)
        clear = intent_confidence(message) >= INTERRUPTION_CONFIDENCE
        if reason == "no_number" and not (intent in STOPS and clear):
            # 「我没得手机 用我儿子的行不行」 is about the phone whatever the classifier read
            # (a request for this application restarted its introduction): help follows.
            return {slot: text}
        if self.interrupts(intent) and clear:
            return {}
        # A "no" that means "stop" (the contract's deny examples include 算了不用).
        if intent == "deny" and validation.says_stop(text):
            return {}  # 「算了」: the rules stop the form
        if reason == "question":
            # 「能救助好多钱嘛」: answered from the knowledge base when it is sure, else
            # pointed to after the form; never kept as the answer.
            return {} if understanding(message) == CONFIDENT else {slot: text}
        if reason is None:
            return {slot: text}
        if reason == "not_a_name":
            return {slot: text}  # 「隔壁王嬢嬢」 is an answer, whatever topic it resembles
        if self.interrupts(intent) or understanding(message) == CONFIDENT:
            return {}
        if intent == "faq" and validation.asks_something(text):
            return {}  # a question, even an unclear one, gets its did-you-mean first
        return {slot: text}

    def asks_for_another_application(self, text: str) -> bool:
        service = requested_application(text)
        return service is not None and FORM_OF_SERVICE[service] != self.form

    def interrupts(self, intent: str | None) -> bool:
        """The intent asks to leave the form or to switch (not for this application
        itself: the resident is already applying, so it is a reply to the question)."""
        if intent not in INTERRUPTIONS:
            return False
        service = SERVICE_OF_INTENT.get(intent or "")
        return service is None or FORM_OF_SERVICE[service] != self.form

    def summary_events(self, tracker: Tracker, slots: list[str]) -> list[EventType]:
        """At the summary: every field corrected is taken, every field said to be wrong
        without a new value is asked again; a message that declines (a stop word opening
        it, "not now" anywhere) ends the application whatever the classifier read; other
        text is explained."""
        message = tracker.latest_message
        intent = (message.get("intent") or {}).get("name")
        text = message.get("text") or ""
        correction = reading.correction_in(text, slots)
        declines = validation.declines(text)
        if declines and not reading.marked_as_a_change(text):
            # 「先不交 房子的事我再跟屋头商量下」 tells no new account: beside a decline only
            # a field named, a value given, or an account said to be wrong or added to is
            # a correction (「不对 后墙裂了 过两天怕要垮」).
            for slot in ACCOUNTS:
                correction.values.pop(slot, None)
        # 「还有厨房那边也垮了一角 加上」 adds to the account the resident already gave.
        for slot in ACCOUNTS & set(correction.values):
            before = tracker.get_slot(slot)
            if before and reading.adds_to_account(text):
                correction.values[slot] = f"{before}，{correction.values[slot]}"
        if correction.values or correction.asked_again:
            changed = [
                SlotSet(slot, correction.values[slot])
                for slot in slots
                if slot in correction.values
            ]
            return changed + [SlotSet(slot, None) for slot in correction.asked_again]
        if intent in STOPS:
            return []  # the rules stop the form (cancel) or find a person
        if declines:
            # Whatever the classifier read (a question, goodbye, this application again).
            return [SlotSet("confirmed", False)]  # validate_confirmed ends the form
        if intent in INTERRUPTIONS or self.asks_for_another_application(text):
            return []  # the rules answer (「不对 我还是先办老年证」: the triage switches)
        if "confirmed" in tracker.slots_to_validate():
            return []  # a plain yes or no, which the domain's mappings have read
        if intent in ("affirm", "deny") or understanding(message) == CONFIDENT:
            return []
        return [SlotSet("confirmed", False)]

    def accept(self, slot: str, value: Any, tracker: Tracker, **derived: Any) -> Slots:
        attempts = dict(tracker.get_slot("failed_attempts") or {})
        attempts.pop(slot, None)
        return {slot: value, "failed_attempts": attempts, "gave_up": False, **derived}

    def refuse(
        self, slot: str, reason: str, dispatcher: CollectingDispatcher, tracker: Tracker, **fill
    ) -> Slots:
        if reason in UNCOUNTED_REASONS:
            dispatcher.utter_message(response=f"utter_invalid_{slot}_{reason}", **fill)
            return {slot: None}
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
            return self.refuse_for_age(dispatcher, tracker)
        return slots

    def refuse_for_age(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Slots:
        """An ID number refused because of whose it is (a son's, too young): the name
        given so far is most likely that person's too, and must not end up beside the
        next (the parent's) ID number. It is cleared and asked again, saying why.

        The name was validated before the ID number (the form's order), so this turn's
        name is already in the tracker.
        """
        fill = self.fill("id_number")
        if not tracker.get_slot("applicant_name"):
            return self.refuse("id_number", "too_young", dispatcher, tracker, **fill)
        refused = self.refuse("id_number", "too_young_name_cleared", dispatcher, tracker, **fill)
        return {**refused, "applicant_name": None}

    validate_applicant_name = checked("applicant_name")
    validate_phone = checked("phone")
    validate_township = checked("township")
    validate_household_size = checked("household_size")
    validate_house_condition = checked("house_condition")
    validate_incident = checked("incident")

    async def validate_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        if value is None:
            # Reset when an application starts: no answer to the summary to explain.
            return {"confirmed": None}
        if set(tracker.slots_to_validate()) - {"confirmed"}:
            # A correction, even one read as a yes (「是 电话改成…」): the summary is shown
            # again with the new values before anything is submitted.
            return {"confirmed": None}
        text = tracker.latest_message.get("text") or ""
        if value is False and validation.declines(text):
            # 「不办了 我先去镇上问问」, 「先不交哦 我去村上问下再说」: the form ends, and the
            # application is left as a stop leaves it (action_submit_application).
            return {"confirmed": False, "requested_slot": None}
        # A yes holding a stop word (「好的 算了」) submits nothing either.
        if value is True and (validation.hesitates(text) or validation.says_stop(text)):
            dispatcher.utter_message(response="utter_take_your_time")
            return {"confirmed": None}
        if value is True:
            # Made once per application, so a retry after an outage submits it only once.
            key = tracker.get_slot("submission_key") or uuid.uuid4().hex
            return {"confirmed": True, "submission_key": key}
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
