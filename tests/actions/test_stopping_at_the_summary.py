"""At an application's summary, a message opening with a stop word stops the application
whatever follows it and whatever the classifier read (real rasa-sdk trackers).

A trial found 「不办了 我先去镇上问问」 (read as a question) answered with how to correct
a field; only a bare 「不办了」 stopped the form. A correction after the stop word still
corrects, and a yes that holds a stop word submits nothing.
"""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import applications, forms, validation
from tests.actions.domain_text import DOMAIN
from tests.actions.test_application_actions import played_after_submission
from tests.actions.test_form_reading import FILLED, OTHER_ID, run, said

# How the model read these wordings when the trial's was found (intent, confidence):
# faq 0.69, thank 0.71, goodbye 0.72, deny 0.53, faq 0.91.
STOPS = [
    ("不办了 我先去镇上问问", "faq"),
    ("不办了哈 谢谢", "thank"),
    ("哎呀 算了 下次再说", "goodbye"),
    ("不要了 我先问问我儿子", "deny"),
    ("算了 我先问下村上", "faq"),
    ("那就不办了，房子的事我再跟屋头商量下", "nlu_fallback"),
]


def at_summary(form: str, text: str, intent: str, **slots: object):
    # A yes or no is what the domain's mappings read from affirm and deny.
    mapped = (
        {"confirmed": {"affirm": True, "deny": False}[intent]}
        if intent
        in (
            "affirm",
            "deny",
        )
        else None
    )
    return said(form, "confirmed", text, intent, mapped=mapped, household_size=3, **FILLED, **slots)


@pytest.mark.parametrize(("text", "intent"), STOPS)
async def test_a_stop_word_opening_the_message_ends_the_form_declined(text: str, intent: str):
    tracker = at_summary("housing_form", text, intent, house_condition="土墙房子 后墙裂了")
    slots, messages = await run(forms.ValidateHousingForm(), tracker)
    assert slots["confirmed"] is False and slots["requested_slot"] is None
    # Nothing replaced, nothing said: the rules leave the application (below).
    assert "house_condition" not in slots and "household_size" not in slots
    assert not messages


async def test_a_declined_application_is_left_as_a_stop_leaves_it():
    tracker = at_summary("elderly_card_form", "不办了 我先去镇上问问", "faq", confirmed=False)
    slots, _ = await run(applications.ActionSubmitApplication(), tracker)
    assert slots == {"application_outcome": "stopped"}
    assert played_after_submission("stopped") == "action_clear_application"


async def test_a_stop_read_as_cancel_is_left_to_the_rules_as_before():
    tracker = at_summary("subsistence_form", "算了不办了 下次再说", "cancel")
    events = await forms.ValidateSubsistenceForm().get_extraction_events(
        CollectingDispatcher(), tracker, DOMAIN
    )
    assert events == []  # rejected: the rule for cancel stops the form


@pytest.mark.parametrize(
    ("text", "intent", "slot", "value"),
    [
        ("算了 是5个人", "inform", "household_size", 5),
        ("不要了 电话是13912345678", "deny", "phone", "13912345678"),
        (f"不办了 身份证错了 {OTHER_ID}", "cancel", "id_number", OTHER_ID),
        ("算了 名字改成李德明", "deny", "applicant_name", "李德明"),
    ],
)
async def test_a_correction_after_a_stop_word_still_corrects(
    text: str, intent: str, slot: str, value: object
):
    tracker = at_summary("subsistence_form", text, intent)
    slots, _ = await run(forms.ValidateSubsistenceForm(), tracker)
    assert slots[slot] == value
    # The summary is shown again, with the new value.
    assert slots.get("confirmed") is None and "requested_slot" not in slots


async def test_a_field_said_wrong_after_a_stop_word_is_asked_again():
    tracker = at_summary("elderly_card_form", "算了 电话写错了", "deny")
    slots, _ = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["phone"] is None and slots["confirmed"] is None


# 「行嘛 不办了」 declines (test_declining_at_the_summary.py): 不办 is said anywhere.
@pytest.mark.parametrize("text", ["好的 算了", "对 不用了"])
async def test_a_yes_holding_a_stop_word_submits_nothing(text: str):
    tracker = at_summary("elderly_card_form", text, "affirm", submission_key="key-of-the-summary")
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["confirmed"] is None and "submission_key" not in slots
    assert "还没有提交" in messages[0]


@pytest.mark.parametrize(
    ("text", "opens"),
    [
        ("不办了 我先去镇上问问", True),
        ("算了不办了 下次再说", True),
        ("不办了哈 谢谢", True),
        ("那就不办了", True),
        ("哎呀，算了！", True),
        ("  不填了。", True),
        ("我不要了", True),
        ("办不办了嘛", False),
        ("我先去镇上问问 不办了", False),
        ("好的 算了", False),
        ("不对 是5个人", False),
        ("对的", False),
    ],
)
def test_what_opens_with_a_stop_word(text: str, opens: bool):
    assert validation.opens_with_stop(text) is opens
