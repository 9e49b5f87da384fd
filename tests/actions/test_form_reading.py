"""The application forms read what residents actually write (real rasa-sdk trackers).

Each behaviour is checked with several wordings, Mandarin and Sichuanese, because the
issue that asked for it will be checked again with other words.
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import applications, forms
from tests.actions.domain_text import DOMAIN, rendered

SENIOR_ID = "510304195503120042"
OTHER_ID = "360426199101010071"
FILLED = {
    "applicant_name": "王秀英",
    "id_number": SENIOR_ID,
    "phone": "13812345678",
    "township": "牛佛镇",
}


def said(
    form: str,
    requested: str | None,
    text: str,
    intent: str = "inform",
    mapped: dict[str, Any] | None = None,
    **slots: Any,
) -> Tracker:
    """A tracker just after the resident wrote `text` while `requested` was asked.

    `mapped` are the slots Rasa's own mappings filled from the message (the summary's
    yes/no comes from the affirm/deny intents).
    """
    events = [
        {"event": "user", "text": text},
        *(
            {"event": "slot", "name": name, "value": value}
            for name, value in (mapped or {}).items()
        ),
    ]
    return Tracker(
        sender_id="resident-1",
        slots={"requested_slot": requested, **slots, **(mapped or {})},
        latest_message={"intent": {"name": intent}, "entities": [], "text": text},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": form},
        latest_action_name="action_listen",
    )


async def run(action: Any, tracker: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    return slots, rendered(dispatcher.messages)


@pytest.mark.parametrize(
    "text",
    [
        f"帮我妈办老年证 她叫王秀英 身份证{SENIOR_ID} 电话13812345678 住在牛佛镇",
        "给我老娘申请老年证，名字是王秀英，身份证号 510304 19550312 0042，手机 138-1234-5678，户口在牛佛",
        f"我要办老年证我叫王秀英身份证{SENIOR_ID}电话13812345678住牛佛镇",
    ],
)
async def test_an_application_started_with_every_value_asks_for_none_again(text):
    slots, messages = await run(
        forms.ValidateElderlyCardForm(), said("elderly_card_form", None, text, "apply_elderly_card")
    )
    assert {slot: slots.get(slot) for slot in FILLED} == FILLED
    assert slots["id_number_masked"] == "5103**********0042"
    assert slots["phone_masked"] == "138****5678"
    assert not messages


@pytest.mark.parametrize(
    "text",
    [
        f"{SENIOR_ID} 13812345678",
        f"身份证{SENIOR_ID}，电话13812345678",
        f"号码是 {SENIOR_ID[:6]} {SENIOR_ID[6:14]} {SENIOR_ID[14:]} 手机 138 1234 5678",
        f"{SENIOR_ID} 0086 138 1234 5678",
    ],
)
async def test_an_id_and_a_phone_in_one_answer_are_both_taken(text):
    slots, _ = await run(
        forms.ValidateSubsistenceForm(), said("subsistence_form", "id_number", text)
    )
    assert slots["id_number"] == SENIOR_ID and slots["phone"] == "13812345678"


@pytest.mark.parametrize(
    "text, slot, value",
    [
        ("不对 是5个人", "household_size", 5),
        ("人数错了 屋头有六个人", "household_size", 6),
        ("搞错了，我们家4口人", "household_size", 4),
        ("名字写错了 应该是刘淑琴", "applicant_name", "刘淑琴"),
        ("名字改成李德明", "applicant_name", "李德明"),
        ("名字写错了 应该是桂花的桂 刘桂芳", "applicant_name", "刘桂芳"),
        ("不对 电话是13912345678", "phone", "13912345678"),
        (f"身份证错了 {OTHER_ID}", "id_number", OTHER_ID),
        ("乡镇不对 是马冲口街道", "township", "马冲口街道"),
        ("我住在凉高山那边", "township", "凉高山街道"),
    ],
)
async def test_any_field_is_corrected_at_the_summary_in_plain_words(text, slot, value):
    tracker = said(
        "subsistence_form",
        "confirmed",
        text,
        "deny",
        mapped={"confirmed": False},
        household_size=3,
        **FILLED,
    )
    slots, messages = await run(forms.ValidateSubsistenceForm(), tracker)
    assert slots[slot] == value
    assert slots["confirmed"] is None  # the summary is shown again, with the new value
    assert not messages


@pytest.mark.parametrize(
    "form, action, slot, text, value",
    [
        (
            "housing_form",
            forms.ValidateHousingForm(),
            "house_condition",
            "房子是墙裂了 不是漏雨",
            "墙裂了",
        ),
        (
            "housing_form",
            forms.ValidateHousingForm(),
            "house_condition",
            "不对，是屋顶垮了一半",
            "是屋顶垮了一半",
        ),
        (
            "relief_form",
            forms.ValidateReliefForm(),
            "incident",
            "不是车祸 是屋头遭火烧了",
            "是屋头遭火烧了",
        ),
    ],
)
async def test_a_free_text_fact_is_corrected_at_the_summary(form, action, slot, text, value):
    tracker = said(form, "confirmed", text, "deny", mapped={"confirmed": False}, **FILLED)
    slots, _ = await run(action, tracker)
    assert value.endswith(slots[slot]) or slots[slot].endswith(value)
    assert slots["confirmed"] is None


@pytest.mark.parametrize("text", ["电话不对", "名字写错了", "身份证号码错了"])
async def test_a_field_said_wrong_without_a_value_is_asked_again(text):
    tracker = said("elderly_card_form", "confirmed", text, "deny", **FILLED)
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    cleared = [slot for slot in FILLED if slot in slots and slots[slot] is None]
    assert len(cleared) == 1
    assert not messages


@pytest.mark.parametrize("text", ["啥子哦", "我看不懂这个"])
async def test_an_unclear_reply_at_the_summary_explains_how_to_correct(text):
    tracker = said("elderly_card_form", "confirmed", text, "nlu_fallback", **FILLED)
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["confirmed"] is None
    assert "直接发正确的内容" in messages[0]


@pytest.mark.parametrize(
    "text, says",
    [
        ("我老汉儿", "不是称呼"),
        ("吴大妈", "不是称呼"),
        ("屋头三个人", "不是称呼"),
        ("隔壁王嬢嬢", "不是称呼"),
        ("你说啥子", "身份证上的姓名"),
    ],
)
async def test_a_relation_or_chat_is_not_taken_as_the_name(text, says):
    slots, messages = await run(
        forms.ValidateElderlyCardForm(), said("elderly_card_form", "applicant_name", text)
    )
    assert slots["applicant_name"] is None
    assert says in messages[0]


@pytest.mark.parametrize("text", ["你说啥子 我听不懂", "啥意思哦", "不晓得咋个说"])
async def test_a_non_answer_is_not_taken_as_the_house_condition(text):
    slots, messages = await run(
        forms.ValidateHousingForm(), said("housing_form", "house_condition", text)
    )
    assert slots["house_condition"] is None
    assert "比如" in messages[0]


@pytest.mark.parametrize(
    "intent, text",
    [
        ("cancel", "不办了"),
        ("ask_human", "转人工"),
        ("greet", "你好"),
        ("check_status", "查进度"),
        ("apply_elderly_card", "不对 我还是先办老年证"),
    ],
)
async def test_a_request_to_leave_or_switch_is_not_taken_as_an_answer(intent, text):
    tracker = said("subsistence_form", "applicant_name", text, intent)
    dispatcher = CollectingDispatcher()
    events = await forms.ValidateSubsistenceForm().get_extraction_events(
        dispatcher, tracker, DOMAIN
    )
    assert events == []


@pytest.mark.parametrize("requested", ["applicant_name", "id_number", "phone", "confirmed"])
@pytest.mark.parametrize("intent", ["faq", "nlu_fallback"])
async def test_another_application_asked_for_in_words_is_not_an_answer(intent, requested):
    # 「不对 我还是先办老年证」 read as a question: left to the triage, which switches.
    tracker = said("subsistence_form", requested, "不对 我还是先办老年证", intent)
    dispatcher = CollectingDispatcher()
    events = await forms.ValidateSubsistenceForm().get_extraction_events(
        dispatcher, tracker, DOMAIN
    )
    assert events == []


def start_tracker(
    intent: str, text: str, entities: list[dict] | None = None, **slots: Any
) -> Tracker:
    return Tracker(
        sender_id="resident-1",
        slots=slots,
        latest_message={"intent": {"name": intent}, "entities": entities or [], "text": text},
        events=[{"event": "user", "text": text}],
        paused=False,
        followup_action=None,
        active_loop={"name": "subsistence_form"} if slots else {},
        latest_action_name="action_listen",
    )


async def test_switching_to_another_application_starts_it_clean():
    tracker = start_tracker(
        "apply_elderly_card",
        "不对 我还是先办老年证",
        application_service="subsistence_allowance",
        household_size=4,
        **FILLED,
    )
    slots, _ = await run(applications.ActionStartApplication(), tracker)
    assert slots["service_type"] == "elderly_card"
    assert all(slots[slot] is None for slot in (*FILLED, "household_size"))
    assert slots["application_start"] == "elderly_card"


async def test_asking_again_for_the_same_application_keeps_the_answers():
    tracker = start_tracker(
        "apply_subsistence_allowance",
        "接着办低保",
        application_service="subsistence_allowance",
        **FILLED,
    )
    slots, _ = await run(applications.ActionStartApplication(), tracker)
    assert "applicant_name" not in slots


@pytest.mark.parametrize(
    "intent, text, service",
    [
        ("apply_temporary_relief", "家里着火了 咋个办", "temporary_relief"),
        ("apply_housing_renovation", "房子后墙裂了 怕要垮了 咋个办", "housing_renovation"),
    ],
)
async def test_an_emergency_gets_urgent_advice_before_the_form(intent, text, service):
    emergency = [{"entity": "emergency", "value": "垮", "start": 2, "end": 4}]
    slots, _ = await run(
        applications.ActionStartApplication(), start_tracker(intent, text, emergency)
    )
    assert slots["application_start"] == "emergency" and slots["service_type"] == service


@pytest.mark.parametrize("text", ["身份证要带原件不", "要带啥子嘛", "照片要几寸的吗"])
async def test_an_unclear_question_instead_of_an_answer_is_left_to_the_did_you_mean(text):
    tracker = said("elderly_card_form", "id_number", text, "faq")
    dispatcher = CollectingDispatcher()
    events = await forms.ValidateElderlyCardForm().get_extraction_events(
        dispatcher, tracker, DOMAIN
    )
    assert events == []


async def test_an_application_asked_for_again_shows_its_summary_before_submitting():
    tracker = start_tracker(
        "apply_elderly_card",
        "算了 我重新办老年证",
        application_service="elderly_card",
        confirmed=True,
        **FILLED,
    )
    slots, _ = await run(applications.ActionStartApplication(), tracker)
    assert slots["confirmed"] is None and "applicant_name" not in slots


@pytest.mark.parametrize(
    "text", ["她叫陈玉兰 我是说的低保不是啥子救助哦", "刚才都说了嘛 陈玉兰", "陈 玉 兰"]
)
async def test_a_name_among_other_words_is_found(text):
    slots, messages = await run(
        forms.ValidateReliefForm(), said("relief_form", "applicant_name", text)
    )
    assert slots["applicant_name"] == "陈玉兰" and not messages


async def test_a_household_correction_that_mentions_a_relative_changes_only_the_size():
    tracker = said(
        "subsistence_form",
        "confirmed",
        "哦不对 孙女也跟我们住的 应该是三个人",
        "deny",
        mapped={"confirmed": False},
        household_size=2,
        **FILLED,
    )
    slots, messages = await run(forms.ValidateSubsistenceForm(), tracker)
    assert slots["household_size"] == 3 and "applicant_name" not in slots
    assert not messages


async def test_a_withdrawal_taken_for_an_application_goes_to_the_withdrawal():
    tracker = start_tracker("apply_temporary_relief", "哎呀 那个救助我不要了 撤回")
    dispatcher = CollectingDispatcher()
    events = await applications.ActionStartApplication().run(dispatcher, tracker, DOMAIN)
    assert events == [{"event": "followup", "name": "action_offer_withdrawal", "timestamp": None}]


def after_emergency_advice(intent: str, text: str) -> Tracker:
    return Tracker(
        sender_id="resident-1",
        slots={"application_service": "temporary_relief", "service_type": "subsistence_allowance"},
        latest_message={"intent": {"name": intent}, "entities": [], "text": text},
        events=[
            {"event": "action", "name": "utter_emergency_advice"},
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": text},
        ],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@pytest.mark.parametrize(
    "intent, text", [("apply_subsistence_allowance", "好 帮我申请嘛"), ("affirm", "要得")]
)
async def test_yes_after_urgent_advice_starts_the_application_offered(intent, text):
    slots, _ = await run(
        applications.ActionStartApplication(), after_emergency_advice(intent, text)
    )
    assert slots["application_start"] == "temporary_relief"


async def test_the_emergency_advice_is_not_repeated_inside_the_relief_form():
    emergency = [{"entity": "emergency", "value": "着火", "start": 0, "end": 2}]
    tracker = start_tracker("apply_temporary_relief", "着火了 我不是正在申请吗", emergency)
    tracker.active_loop = {"name": "relief_form"}
    slots, _ = await run(applications.ActionStartApplication(), tracker)
    assert slots["application_start"] == "temporary_relief"


@pytest.mark.parametrize("text", ["算了", "算了不弄了", "不填了"])
async def test_a_no_that_means_stop_is_not_taken_as_an_answer(text):
    tracker = said("elderly_card_form", "applicant_name", text, "deny")
    dispatcher = CollectingDispatcher()
    events = await forms.ValidateElderlyCardForm().get_extraction_events(
        dispatcher, tracker, DOMAIN
    )
    assert events == []


@pytest.mark.parametrize(
    "text",
    [
        "我之前在手机上申请了老年正 想看下好了没有",
        "我的低保申请到哪一步了",
        "老年证申请撤回",
        # Questions about a service are not requests for it (a benchmark run found them).
        "老年证好多岁能办",
        "临时救助哪些人能申请",
        "低保多大年纪能申请",
        "危房改造好久能办下来",
        "临时救助咋申请",
        "老年证能不能在网上办",
        "低保可以帮别人办不",
    ],
)
def test_asking_about_an_application_made_is_not_asking_for_a_new_one(text):
    from bot.actions.faq import requested_application

    assert requested_application(text) is None


@pytest.mark.parametrize(
    "intent, text, service",
    [
        ("apply_housing_renovation", "我老汉儿倒在地上喊不答应了", "temporary_relief"),
        ("complain", "我老汉儿心口痛得很 脸都白了", "temporary_relief"),
        ("apply_temporary_relief", "我老娘在屋头摔倒了 起不来", "temporary_relief"),
        ("faq", "后墙裂了好宽的缝 感觉要垮了 他还住在里头", "housing_renovation"),
    ],
)
async def test_an_emergency_is_advised_for_what_happened_whatever_the_intent(intent, text, service):
    emergency = [{"entity": "emergency", "value": "x", "start": 0, "end": 1}]
    slots, _ = await run(
        applications.ActionStartApplication(), start_tracker(intent, text, emergency)
    )
    assert slots["application_start"] == "emergency" and slots["service_type"] == service


async def test_a_question_at_the_summary_does_not_overwrite_the_account():
    tracker = said(
        "relief_form",
        "confirmed",
        "那个火灾证明在哪儿开嘛",
        "faq",
        incident="家里失火了",
        **FILLED,
    )
    dispatcher = CollectingDispatcher()
    events = await forms.ValidateReliefForm().get_extraction_events(dispatcher, tracker, DOMAIN)
    assert "incident" not in {e["name"] for e in events}


@pytest.mark.parametrize("text", ["好的我再想想", "嗯 我问问儿子", "可以 等一下哈"])
async def test_hesitation_at_the_summary_submits_nothing(text):
    tracker = said(
        "elderly_card_form", "confirmed", text, "affirm", mapped={"confirmed": True},
        submission_key="key-made-with-the-summary", **FILLED,
    )  # fmt: skip
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["confirmed"] is None and "submission_key" not in slots
    assert "还没有提交" in messages[0]


async def test_numbers_and_places_inside_an_account_do_not_replace_the_applicants():
    text = "墙裂了 有事找我儿子13912345678 他身份证360426199101010071 他在何市镇打工"
    tracker = said("housing_form", "house_condition", text, **FILLED)
    slots, _ = await run(forms.ValidateHousingForm(), tracker)
    assert slots["house_condition"] == text
    assert not {"phone", "id_number", "township", "applicant_name"} & set(slots)


async def test_a_value_said_in_passing_does_not_overwrite_one_already_given():
    tracker = said(
        "elderly_card_form", "township", "牛佛镇 我儿子电话13912345678", phone="13812345678"
    )
    slots, _ = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["township"] == "牛佛镇" and "phone" not in slots


async def test_a_relation_resembling_a_topic_is_still_refused_as_the_name():
    tracker = said("elderly_card_form", "applicant_name", "隔壁王嬢嬢", "faq")
    tracker.latest_message["response_selector"] = {
        "faq": {"ranking": [{"intent_response_key": "faq/dispute_mediation", "confidence": 0.99}]}
    }
    slots, messages = await run(forms.ValidateElderlyCardForm(), tracker)
    assert slots["applicant_name"] is None and "不是称呼" in messages[0]


@pytest.mark.parametrize(
    ("form", "action", "text", "intent"),
    [
        ("subsistence_form", "ValidateSubsistenceForm", "我要申请", "nlu_fallback"),
        ("subsistence_form", "ValidateSubsistenceForm", "那我申请一个嘛", "apply_subsistence"),
        ("elderly_card_form", "ValidateElderlyCardForm", "办老年证", "apply_elderly_card"),
    ],
)
async def test_a_form_that_starts_says_nothing_about_corrections(form, action, text, intent):
    """The start resets the summary's yes/no; the form's first question follows alone."""
    tracker = said(form, None, text, intent, mapped={"confirmed": None})
    slots, messages = await run(getattr(forms, action)(), tracker)
    assert not any("正确的内容" in message for message in messages)
    assert slots.get("confirmed") is None
