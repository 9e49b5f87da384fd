"""At an application's summary, "not now" or "don't want to" anywhere in the message
declines the application when the message names or changes no field (real rasa-sdk
trackers).

A second trial found 「先不交哦 我去村上问下再说」, 「等哈再弄 我儿子回来帮我看」 and
「我妈说她不想办了 等她自己去镇上」 answered with how to correct a field; the resident's
next 「嗯嗯 要得」 then submitted the application she had declined. Only a stop word
opening the message stopped it.
"""

from __future__ import annotations

import pytest

from bot.actions import forms, validation
from tests.actions.test_form_reading import run
from tests.actions.test_stopping_at_the_summary import at_summary

# As the model read them (intent, confidence): the trial's three first, then other
# wordings: goodbye 0.96, nlu_fallback 0.40, faq 1.00, faq 1.00, goodbye 0.91,
# out_of_scope 0.97, goodbye 0.95, faq 0.97, affirm 0.54, faq 0.98.
DECLINES = [
    ("先不交哦 我去村上问下再说", "goodbye"),
    ("等哈再弄 我儿子回来帮我看", "nlu_fallback"),
    ("我妈说她不想办了 等她自己去镇上", "faq"),
    ("算了算了 先不申请了 过两天去镇上问清楚", "faq"),
    ("先不提交 等我问了儿子再说", "goodbye"),
    ("改天再来弄 今天没带户口本", "out_of_scope"),
    ("下次再交嘛 我先回去了", "goodbye"),
    ("以后再说哦 我还要问下村干部", "faq"),
    ("好的 我过两天再来交", "affirm"),
    ("老年证先不办了 过两天再说", "faq"),
    ("行嘛 不办了", "affirm"),  # a yes holding 不办: "fine, not doing it"
]


@pytest.mark.parametrize(("text", "intent"), DECLINES)
async def test_not_now_anywhere_declines_the_application(text: str, intent: str):
    tracker = at_summary("subsistence_form", text, intent)
    slots, messages = await run(forms.ValidateSubsistenceForm(), tracker)
    assert slots["confirmed"] is False and slots["requested_slot"] is None
    # Nothing replaced (镇, 户口 name no field here), nothing said: the rules leave it.
    assert not set(slots) & {*forms.READERS, "failed_attempts"}
    assert not messages


async def test_declining_read_as_a_request_for_this_application_declines_it():
    # 「先不申请低保了」 read as apply_subsistence_allowance (0.81) must not restart it.
    tracker = at_summary("subsistence_form", "先不申请低保了", "apply_subsistence_allowance")
    slots, _ = await run(forms.ValidateSubsistenceForm(), tracker)
    assert slots["confirmed"] is False and slots["requested_slot"] is None


async def test_declining_that_names_another_service_does_not_switch_to_it():
    tracker = at_summary("elderly_card_form", "低保也先不申请了 等我问清楚", "faq")
    slots, _ = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["confirmed"] is False


@pytest.mark.parametrize(
    ("text", "intent", "slot", "value"),
    [
        ("先不交 电话是13912345678", "inform", "phone", "13912345678"),
        ("过两天再说 是5个人", "inform", "household_size", 5),
    ],
)
async def test_a_field_changed_beside_not_now_is_a_correction(
    text: str, intent: str, slot: str, value: object
):
    tracker = at_summary("subsistence_form", text, intent)
    slots, _ = await run(forms.ValidateSubsistenceForm(), tracker)
    assert slots[slot] == value and slots.get("confirmed") is None


async def test_an_account_said_to_be_wrong_is_corrected_even_with_a_time_word():
    # 过两天 here is when the wall may fall, not when to apply: 不对 marks a correction.
    text = "不对 后墙裂了 过两天怕要垮"
    tracker = at_summary("housing_form", text, "inform", house_condition="屋顶漏雨")
    slots, _ = await run(forms.ValidateHousingForm(), tracker)
    assert slots["house_condition"] == "后墙裂了 过两天怕要垮"
    assert slots.get("confirmed") is None


async def test_an_unmarked_account_beside_not_now_is_no_new_account():
    text = "先不交 房子的事我再跟屋头商量下"
    tracker = at_summary("housing_form", text, "faq", house_condition="屋顶漏雨")
    slots, _ = await run(forms.ValidateHousingForm(), tracker)
    assert slots["confirmed"] is False and "house_condition" not in slots


@pytest.mark.parametrize(
    ("text", "declines"),
    [
        *((text, True) for text, _ in DECLINES),
        ("不办了 我先去镇上问问", True),  # a stop word opening it, as before
        ("我先去镇上问问 不办了", True),
        ("等一下再交 我去拿户口本", True),
        ("她不想申请了", True),
        ("先莫交 我问下", True),
        # Corrections, questions whether to, yes and no: not a decline.
        ("不对", False),
        ("不是这个电话", False),
        ("有一项不对", False),
        ("对的", False),
        ("嗯嗯 要得", False),
        ("交不交得上哦", False),
        ("办不办得成哦", False),
        ("想不想办都要先问下吗", False),
        ("这个不交钱吧", False),
        ("提交", False),
    ],
)
def test_what_declines_at_the_summary(text: str, declines: bool):
    assert validation.declines(text) is declines
