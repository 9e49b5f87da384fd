"""Validation of the guided application forms, one method per slot.

A value that cannot be used is answered with a kind re-prompt saying what is wrong;
after `max_field_failures` unusable answers to one question the form stops (keeping
what was already given) and the resident is offered a person instead of a loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from bot.actions import validation
from bot.actions.faq import CONFIDENT, understanding
from bot.actions.settings import settings
from bot.actions.validation import InvalidValue

Slots = dict[str, Any]

REPROMPTS = {
    ("applicant_name", "format"): "名字好像不对。请只发申请人的中文姓名，比如：王秀英。",
    (
        "id_number",
        "format",
    ): "没有找到18位身份证号码。请对着身份证，把18位号码发过来（最后一位可能是X）。",
    ("id_number", "old_15_digit"): "这是老的15位号码，现在请发二代身份证上的18位号码。",
    ("id_number", "checksum"): "这个身份证号码对不上，可能有一位输错了。请对着身份证再核对一遍。",
    ("id_number", "birth_date"): "身份证号里的出生日期不对，请核对后再发。",
    ("id_number", "too_young"): (
        "老年证一般要年满{age}岁才能办，这个号码的主人还没到。替家里老人办的，请发老人的身份证号。"
    ),
    ("phone", "format"): "手机号码好像不对，请发11位手机号，比如：13812345678。",
    ("phone", "not_mobile"): "这个号码不像手机号，请发11位手机号，比如：13812345678。",
    ("township", "unknown_township"): "没认出这个乡镇。大安区的乡镇有：{townships}。请发其中一个。",
    ("household_size", "format"): "请发家里的人数，比如：4，或者：四口人。",
    ("household_size", "range"): "人数好像不对，请发1到20之间的数字。",
    ("house_condition", "too_short"): "请多说几句房子的情况，比如：墙裂了、屋顶漏雨。",
    ("house_condition", "too_long"): "内容有点长，请简单说说，300字以内。",
    ("incident", "too_short"): "请多说几句遇到的困难，比如：家里失火了、突发大病。",
    ("incident", "too_long"): "内容有点长，请简单说说，300字以内。",
}
CORRECTION_HINT = "好的，哪项不对，请直接发正确的内容，比如新的手机号码；名字请发「名字是王秀英」。"


def first(value: Any) -> str:
    """Two mappings or two entities can fill a slot with a list; the first one counts."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


INTERRUPTIONS = {"cancel", "ask_human"}


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
    # What a usable answer to each question looks like (each form asks some of them).
    answers: ClassVar[dict[str, Callable[[str], Any]]] = {
        "applicant_name": validation.person_name,
        "id_number": validation.id_number,
        "phone": validation.mobile_phone,
        "township": validation.township,
        "household_size": validation.household_size,
        "house_condition": validation.description,
        "incident": validation.description,
    }

    def name(self) -> str:
        return f"validate_{self.form}"

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        """The reply to the question just asked, unless the resident asked something else.

        The intent alone cannot decide: short answers such as a bare name are often
        mistaken for questions. A reply that is a usable value is taken whatever its
        intent; anything else is taken (and explained) unless it was a confident
        knowledge-base question, a request to stop, or a request for a person, which
        the rules then handle before the form asks again.
        """
        slot = tracker.get_slot("requested_slot")
        message = tracker.latest_message
        if slot not in self.answers or message.get("intent", {}).get("name") in INTERRUPTIONS:
            return []
        text = message.get("text") or ""
        try:
            self.answers[slot](text)
        except InvalidValue:
            if understanding(message) == CONFIDENT:
                return []
        return [SlotSet(slot, text)]

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
        dispatcher.utter_message(text=REPROMPTS[(slot, reason)].format(**fill))
        return {slot: None, "failed_attempts": attempts}

    def check(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Slots:
        try:
            return self.accept(slot, self.answers[slot](first(value)), tracker)
        except InvalidValue as error:
            return self.refuse(slot, error.reason, dispatcher, tracker)

    async def validate_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        try:
            number = validation.id_number(first(value))
        except InvalidValue as error:
            return self.refuse("id_number", error.reason, dispatcher, tracker)
        too_young = validation.age_on(number) < settings.elderly_card_min_age
        if self.form == "elderly_card_form" and too_young:
            return self.refuse(
                "id_number", "too_young", dispatcher, tracker, age=settings.elderly_card_min_age
            )
        masked = validation.mask_id_number(number)
        return self.accept("id_number", number, tracker, id_number_masked=masked)

    async def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        try:
            number = validation.mobile_phone(first(value))
        except InvalidValue as error:
            return self.refuse("phone", error.reason, dispatcher, tracker)
        return self.accept("phone", number, tracker, phone_masked=validation.mask_phone(number))

    async def validate_township(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        try:
            return self.accept("township", validation.township(first(value)), tracker)
        except InvalidValue as error:
            names = "、".join(sorted(set(validation.township_names().values())))
            return self.refuse("township", error.reason, dispatcher, tracker, townships=names)

    # Answers with no rule beyond their reader (ID, phone and township add their own).
    validate_applicant_name = checked("applicant_name")
    validate_household_size = checked("household_size")
    validate_house_condition = checked("house_condition")
    validate_incident = checked("incident")

    async def validate_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        if value is True:
            # Made once per application, so a retry after an outage submits it only once.
            key = tracker.get_slot("submission_key") or uuid.uuid4().hex
            return {"confirmed": True, "submission_key": key}
        dispatcher.utter_message(text=CORRECTION_HINT)
        return {"confirmed": None}


class ValidateElderlyCardForm(ApplicationFormValidation):
    form = "elderly_card_form"


class ValidateSubsistenceForm(ApplicationFormValidation):
    form = "subsistence_form"


class ValidateHousingForm(ApplicationFormValidation):
    form = "housing_form"


class ValidateReliefForm(ApplicationFormValidation):
    form = "relief_form"


class ValidateStatusForm(FormValidationAction):
    def name(self) -> str:
        return "validate_status_form"

    async def validate_tracking_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        try:
            return {"tracking_number": validation.tracking_number(first(value))}
        except InvalidValue:
            dispatcher.utter_message(
                text="办件编号是DA开头加12位数字，比如 DA202611270001，请核对后再发。"
            )
            return {"tracking_number": None}

    async def validate_status_proof(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        try:
            return {"status_proof": validation.status_proof(first(value))}
        except InvalidValue:
            dispatcher.utter_message(text="请发申请人身份证号的后4位，或者申请时留的11位手机号。")
            return {"status_proof": None}
