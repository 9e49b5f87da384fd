"""What the application forms do with the replies a resident trial found mishandled.

Residents (often elderly, Mandarin or Sichuanese) correct two things at once at the
summary, talk about the phone instead of giving one, give a son's name with his too-young
ID, and ask questions where an account is asked for. Each behaviour is checked with
several wordings, because it will be checked again with other words.
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import forms
from tests.actions.domain_text import DOMAIN
from tests.actions.test_form_reading import FILLED, run, said

OTHER_SENIOR_ID = "510304194801150026"
SON_ID = "510304198001010015"  # born 1980: too young for the elderly card
YOUNGER_SON_ID = "510304198506120033"
CONFIDENT_TOPIC = {
    "faq": {
        "ranking": [
            {"intent_response_key": "faq/temporary_relief_amount", "confidence": 0.93},
            {"intent_response_key": "faq/subsistence_amount", "confidence": 0.02},
        ]
    }
}


def text_of(response: str) -> str:
    return DOMAIN["responses"][response][0]["text"]


# --- 1. Two fields corrected in one message at the summary --------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "电话不对 是13912345678 名字也错了叫李秀英",
            {"phone": "13912345678", "applicant_name": "李秀英"},
        ),
        (
            f"身份证号错了{OTHER_SENIOR_ID}，镇也不对是何市镇",
            {"id_number": OTHER_SENIOR_ID, "township": "何市镇"},
        ),
        (
            "名字错了是李秀英，电话也错了是13912345678",
            {"applicant_name": "李秀英", "phone": "13912345678"},
        ),
        (
            "名字搞错了 喊李秀英 电话也不对头 13912345678",
            {"applicant_name": "李秀英", "phone": "13912345678"},
        ),
        (
            f"名字不对 叫李秀英 身份证也不对 {OTHER_SENIOR_ID}",
            {"applicant_name": "李秀英", "id_number": OTHER_SENIOR_ID},
        ),
        (
            "电话和名字都错了 电话13912345678 名字李秀英",
            {"phone": "13912345678", "applicant_name": "李秀英"},
        ),
        (
            "姓名写错了哈，是李秀英噻，住的也不是牛佛 是何市镇",
            {"applicant_name": "李秀英", "township": "何市镇"},
        ),
        (
            "人数不对 是5个人 名字也写错了 应该是刘淑琴",
            {"household_size": 5, "applicant_name": "刘淑琴"},
        ),
        (
            "名字应该是李秀英不是李秀云 电话也错了 13912345678",
            {"applicant_name": "李秀英", "phone": "13912345678"},
        ),
        (
            "手机号码错了一位 应该是139 1234 5678 乡镇也错了 是马冲口街道",
            {"phone": "13912345678", "township": "马冲口街道"},
        ),
    ],
)
@pytest.mark.parametrize(
    "intent, mapped",
    [("deny", {"confirmed": False}), ("inform", {}), ("affirm", {"confirmed": True})],
)
async def test_every_field_of_a_correction_is_taken_and_the_summary_shown_again(
    text: str, expected: dict[str, Any], intent: str, mapped: dict[str, Any]
):
    tracker = said(
        "subsistence_form",
        "confirmed",
        text,
        intent,
        mapped=mapped,
        household_size=3,
        submission_key="key-made-with-the-summary",
        **FILLED,
    )
    slots, messages = await run(forms.ValidateSubsistenceForm(), tracker)
    assert {slot: slots.get(slot) for slot in expected} == expected
    # Not submitted: the summary is shown again (what was read as yes or no is undone).
    assert slots.get("confirmed", mapped.get("confirmed")) is None
    assert not messages


@pytest.mark.parametrize(
    "text, given, asked_again",
    [
        ("电话不对 是13912345678 名字也写错了", {"phone": "13912345678"}, "applicant_name"),
        ("名字改成李秀英 电话也不对", {"applicant_name": "李秀英"}, "phone"),
        ("乡镇错了 是何市镇，身份证号码也打错了", {"township": "何市镇"}, "id_number"),
    ],
)
async def test_a_field_said_wrong_beside_a_corrected_one_is_asked_again(text, given, asked_again):
    tracker = said(
        "elderly_card_form", "confirmed", text, "deny", mapped={"confirmed": False}, **FILLED
    )
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert {slot: slots.get(slot) for slot in given} == given
    assert asked_again in slots and slots[asked_again] is None
    assert slots["confirmed"] is None and not messages


@pytest.mark.parametrize(
    "text", ["电话不对 应该是13912345678 名字是对的", "电话错了 13912345678，名字没得错"]
)
async def test_a_field_said_to_be_right_is_kept(text):
    tracker = said("elderly_card_form", "confirmed", text, "deny", **FILLED)
    slots, _ = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["phone"] == "13912345678" and "applicant_name" not in slots


@pytest.mark.parametrize("text", ["电话不对", "名字写错了", "我的身份证号好像错了一位"])
async def test_a_field_said_wrong_after_no_is_asked_again(text):
    # 「电话不对」 is read as "no" too, which fills the summary's answer with False.
    tracker = said(
        "elderly_card_form", "confirmed", text, "deny", mapped={"confirmed": False}, **FILLED
    )
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert [slot for slot in FILLED if slot in slots and slots[slot] is None]
    assert not messages  # the form asks for the field, not how to correct


# --- 4. Talk about the phone at the phone question ------------------------------------


@pytest.mark.parametrize(
    "intent, text",
    [
        ("apply_elderly_card", "我没得手机 用我儿子的行不行"),
        ("faq", "电话是我女儿的哈"),
        ("inform", "我不会用手机 留我孙女的号码要得不"),
        ("apply_elderly_card", "家里没有电话咋个办"),
        ("greet", "我用的老年机 记不到号码"),
        ("nlu_fallback", "没有手机可以不可以"),
        ("apply_elderly_card", "号码记不到了 我问下我女儿"),
    ],
)
async def test_talk_about_the_phone_stays_on_the_phone_question_with_help(intent, text):
    given = {slot: value for slot, value in FILLED.items() if slot != "phone"}
    tracker = said("elderly_card_form", "phone", text, intent, **given)
    extracted = await forms.ValidateElderlyCardForm().get_extraction_events(
        CollectingDispatcher(), tracker, DOMAIN
    )
    # Something is extracted, so the form is not rejected and nothing else runs (such
    # as the application's start with its introduction and privacy notice).
    assert [event["name"] for event in extracted] == ["phone"]
    tracker = said("elderly_card_form", "phone", text, intent, **given)
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["phone"] is None
    assert messages == [text_of("utter_invalid_phone_no_number")]
    assert "家里人" in messages[0]


@pytest.mark.parametrize(
    "intent, text", [("cancel", "不办了 我没得手机"), ("ask_human", "我没得手机 转人工")]
)
async def test_leaving_still_wins_over_talk_about_the_phone(intent, text):
    tracker = said("elderly_card_form", "phone", text, intent)
    events = await forms.ValidateElderlyCardForm().get_extraction_events(
        CollectingDispatcher(), tracker, DOMAIN
    )
    assert events == []


async def test_a_relatives_number_is_taken():
    tracker = said("elderly_card_form", "phone", "用我儿子的嘛 13912345678", "apply_elderly_card")
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["phone"] == "13912345678" and not messages


# --- 5. An ID refused for age takes the name given for that person with it -----------


@pytest.mark.parametrize(
    "requested, intent, text, earlier",
    [
        ("applicant_name", "inform", f"是我儿子来办 他叫张伟 身份证号{SON_ID}", {}),
        (
            None,
            "apply_elderly_card",
            f"帮我妈办老年证 我叫张伟 身份证{SON_ID} 电话13812345678",
            {},
        ),
        ("applicant_name", "inform", f"我是她幺儿 我叫张伟嘛 身份证号码是{YOUNGER_SON_ID}", {}),
        ("id_number", "inform", SON_ID, {"applicant_name": "张伟"}),
        ("id_number", "inform", f"身份证是{YOUNGER_SON_ID}哈", {"applicant_name": "张伟"}),
    ],
)
async def test_an_id_refused_for_age_clears_the_name_given_with_it(
    requested, intent, text, earlier
):
    tracker = said("elderly_card_form", requested, text, intent, **earlier)
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["id_number"] is None
    assert "applicant_name" in slots and slots["applicant_name"] is None
    assert messages == [text_of("utter_invalid_id_number_too_young_name_cleared").format(age=60)]
    assert "姓名" in messages[0]


async def test_the_phone_given_with_a_refused_id_is_kept():
    tracker = said(
        "elderly_card_form", None, f"我叫张伟 身份证{SON_ID} 电话13812345678", "apply_elderly_card"
    )
    slots, _ = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["phone"] == "13812345678"  # a family member's number is a fine contact


async def test_a_too_young_id_without_a_name_keeps_the_usual_reply():
    tracker = said("elderly_card_form", "id_number", SON_ID)
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["id_number"] is None
    assert messages == [text_of("utter_invalid_id_number_too_young").format(age=60)]


# --- 6. A question where an answer is asked for ---------------------------------------


@pytest.mark.parametrize(
    "form, action, slot, intent, text",
    [
        ("relief_form", forms.ValidateReliefForm(), "incident", "faq", "能救助好多钱嘛"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "inform", "要得好久哦"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "faq", "那个钱一个月有好多"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "nlu_fallback", "补助好久能到账"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "faq", "一个月能拿多少钱？"),
        ("housing_form", forms.ValidateHousingForm(), "house_condition", "faq", "危房改造能补好多钱"),
        ("housing_form", forms.ValidateHousingForm(), "house_condition", "inform", "要等几年哦"),
        ("housing_form", forms.ValidateHousingForm(), "house_condition", "faq", "补助标准是好多"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "inform", "钱多不多哦"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "faq", "能补助几千块"),
        ("subsistence_form", forms.ValidateSubsistenceForm(), "household_size", "faq", "那个钱一个月有好多"),
    ],
)  # fmt: skip
async def test_a_question_is_not_stored_as_the_answer(form, action, slot, intent, text):
    tracker = said(form, slot, text, intent)
    slots, messages = await run(action, tracker)
    assert slots.get(slot) is None
    assert messages == [text_of(f"utter_invalid_{slot}_question")]
    # A question is not a failed answer: it does not count towards stopping the form.
    assert slot not in (slots.get("failed_attempts") or {})


@pytest.mark.parametrize(
    "form, action, slot, text",
    [
        ("relief_form", forms.ValidateReliefForm(), "incident", "能救助好多钱嘛"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "临时救助一次能给好多钱"),
        ("subsistence_form", forms.ValidateSubsistenceForm(), "household_size", "低保一个月能拿好多"),
    ],
)  # fmt: skip
async def test_a_question_the_knowledge_base_is_sure_of_is_left_to_it(form, action, slot, text):
    tracker = said(form, slot, text, "faq")
    tracker.latest_message["response_selector"] = CONFIDENT_TOPIC
    events = await action.get_extraction_events(CollectingDispatcher(), tracker, DOMAIN)
    assert events == []  # the rules answer it, then the form asks again


@pytest.mark.parametrize(
    "form, action, slot, text",
    [
        ("housing_form", forms.ValidateHousingForm(), "house_condition", "墙裂了 要不要紧"),
        ("housing_form", forms.ValidateHousingForm(), "house_condition", "房子漏雨好多年了"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "家里失火了 能救助好多钱嘛"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "老汉儿看病花了好多钱"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "娃儿上学的钱不够"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "住院好久了 钱都用完了"),
        ("relief_form", forms.ValidateReliefForm(), "incident", "老汉儿看病要好多钱"),
        ("housing_form", forms.ValidateHousingForm(), "house_condition", "墙上有好多裂缝"),
    ],
)
async def test_an_account_with_a_question_in_it_is_still_the_account(form, action, slot, text):
    slots, messages = await run(action, said(form, slot, text, "faq"))
    assert slots[slot] and not messages
