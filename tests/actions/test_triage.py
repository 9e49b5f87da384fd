"""The triage uses the conversation: follow-ups and messages that name two services."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import faq
from tests.actions.domain_text import DOMAIN
from tests.trainingdata import responses


def message(text: str, ranking: list[tuple[str, float]], intent: str = "faq") -> dict[str, Any]:
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [],
        "response_selector": {
            "faq": {
                "ranking": [
                    {"intent_response_key": key, "confidence": confidence}
                    for key, confidence in ranking
                ]
            }
        },
    }


async def triage(latest: dict[str, Any], **slots: Any) -> tuple[dict[str, Any], list[str]]:
    tracker = Tracker(
        sender_id="resident-1",
        slots=slots,
        latest_message=latest,
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
    dispatcher = CollectingDispatcher()
    events = await faq.ActionTriage().run(dispatcher, tracker, DOMAIN)
    values = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    return values, [m["response"] for m in dispatcher.messages]


@pytest.mark.parametrize(
    "text, last, expected",
    [
        ("那要带啥子去办", "faq/elderly_card_eligibility", "faq/elderly_card_materials"),
        ("好久能拿到", "faq/elderly_card_materials", "faq/elderly_card_pickup"),
        ("那要准备些啥材料", "faq/subsistence_eligibility", "faq/subsistence_materials"),
        ("那一个月发好多钱嘛", "faq/subsistence_eligibility", "faq/subsistence_amount"),
        ("那要等多久", "faq/housing_renovation_eligibility", "faq/housing_renovation_process"),
    ],
)
async def test_a_follow_up_is_about_the_service_just_answered(text, last, expected):
    # The model, without the conversation, guesses another service's topic.
    latest = message(text, [("faq/subsistence_materials", 0.6), ("faq/pension_enroll", 0.2)])
    if expected == "faq/subsistence_materials":
        latest = message(text, [("faq/elderly_card_materials", 0.6)])
    slots, uttered = await triage(latest, last_topic=last)
    assert uttered == [f"utter_{expected}"]
    assert slots["understanding"] == faq.ANSWERED and slots["last_topic"] == expected


async def test_a_question_naming_its_service_is_not_a_follow_up():
    latest = message("低保要带啥子材料", [("faq/subsistence_materials", 0.95)])
    slots, uttered = await triage(latest, last_topic="faq/elderly_card_eligibility")
    assert slots["understanding"] == faq.CONFIDENT and not uttered
    assert slots["last_topic"] == "faq/subsistence_materials"


async def test_without_an_earlier_answer_a_follow_up_is_triaged_as_usual():
    latest = message("那要带啥子去办", [("faq/elderly_card_materials", 0.3)])
    slots, uttered = await triage(latest)
    assert slots["understanding"] != faq.ANSWERED and not uttered


@pytest.mark.parametrize(
    "text, ranking, expected",
    [
        (
            "低保和特困有啥子区别",
            [("faq/extreme_poverty_support", 0.8), ("faq/subsistence_eligibility", 0.1)],
            ["faq/subsistence_eligibility", "faq/extreme_poverty_support"],
        ),
        (
            "老年证咋个办 还有高龄津贴咋个领",
            [("faq/senior_allowance", 0.7), ("faq/elderly_card_materials", 0.2)],
            ["faq/elderly_card_materials", "faq/senior_allowance"],
        ),
    ],
)
async def test_two_services_in_one_message_get_both_answers(text, ranking, expected):
    slots, uttered = await triage(message(text, ranking))
    assert uttered == [f"utter_{topic}" for topic in expected]
    assert slots["understanding"] == faq.ANSWERED


def test_every_topic_named_in_the_lexicon_has_an_answer():
    words = faq.topic_words()
    named = {topic for entry in words["services"].values() for topic in entry["topics"]}
    named |= {topic for aspect in words["aspects"].values() for topic in aspect["topics"].values()}
    assert named <= {name.removeprefix("utter_") for name in responses()}


@pytest.mark.parametrize(
    "intent, text, ranking, verdict",
    [
        # Clear on confidence alone.
        (
            "faq",
            "养老金好久发",
            [("faq/pension_benefit", 0.8), ("faq/pension_enroll", 0.1)],
            "confident",
        ),
        # Lower, but far above the runner-up.
        (
            "faq",
            "第一次去哪个窗口登记",
            [("faq/pension_enroll", 0.35), ("faq/pension_benefit", 0.08)],
            "confident",
        ),
        # Lower and close to the runner-up: ask.
        (
            "faq",
            "一年下来总共要交好多",
            [("faq/pension_enroll", 0.35), ("faq/pension_contribution", 0.2)],
            "unsure",
        ),
        # The service the resident names is the topic's: answered with less margin.
        (
            "faq",
            "外地户口能办老年证不",
            [("faq/elderly_card_eligibility", 0.3), ("faq/elderly_card_materials", 0.18)],
            "confident",
        ),
        # The resident names another service than the topic's: never answered.
        (
            "faq",
            "低保的材料",
            [("faq/elderly_card_materials", 0.9), ("faq/subsistence_materials", 0.05)],
            "unsure",
        ),
        # The intent classifier could not place it, but one topic dominates.
        (
            "nlu_fallback",
            "有没得网上办事的平台",
            [("faq/online_service", 0.97), ("faq/proxy_application", 0.01)],
            "confident",
        ),
        (
            "nlu_fallback",
            "可以在网上申请不",
            [("faq/online_service", 0.56), ("faq/proxy_application", 0.1)],
            "unsure",
        ),
        # Other intents are never answered from the knowledge base.
        ("out_of_scope", "下午几点钟关门", [("faq/service_center_hours", 0.85)], "unsure"),
    ],
)
def test_the_decision_to_answer_weighs_confidence_margin_and_the_named_service(
    intent, text, ranking, verdict
):
    assert faq.understanding(message(text, ranking, intent)) == verdict


async def test_a_withdrawal_in_words_goes_to_the_withdrawal_whatever_the_intent():
    latest = message("撤回DA202612010006", [("faq/online_service", 0.2)], intent="nlu_fallback")
    tracker = Tracker("resident-1", {}, latest, [], False, None, {}, "action_listen")
    events = await faq.ActionTriage().run(CollectingDispatcher(), tracker, DOMAIN)
    assert [e["name"] for e in events if e["event"] == "followup"] == ["action_offer_withdrawal"]


@pytest.mark.parametrize("intent", ["faq", "nlu_fallback", "inform"])
@pytest.mark.parametrize("text", ["我要申请", "那帮我申请一个嘛"])
async def test_a_bare_request_after_an_answer_applies_for_that_service(intent, text):
    # 「我要申请」 right after a 低保 answer, whatever the intent classifier read.
    latest = message(text, [("faq/online_service", 0.3)], intent)
    tracker = Tracker(
        "resident-1", {"last_topic": "faq/subsistence_eligibility"}, latest, [], False, None,
        {}, "action_listen",
    )  # fmt: skip
    events = await faq.ActionTriage().run(CollectingDispatcher(), tracker, DOMAIN)
    assert [e["name"] for e in events if e["event"] == "followup"] == ["action_start_application"]


@pytest.mark.parametrize(
    "text, last_topic",
    [
        ("我要申请", None),  # nothing answered yet: which application is not known
        ("我要申请", "faq/pension_enroll"),  # no application of that service here
        ("那我可以申请不", "faq/subsistence_eligibility"),  # a question, not a request
    ],
)
async def test_a_bare_request_without_an_applicable_answer_is_triaged_as_usual(text, last_topic):
    latest = message(text, [("faq/online_service", 0.3)])
    tracker = Tracker(
        "resident-1", {"last_topic": last_topic}, latest, [], False, None, {}, "action_listen"
    )
    events = await faq.ActionTriage().run(CollectingDispatcher(), tracker, DOMAIN)
    assert not [e for e in events if e["event"] == "followup"]


@pytest.mark.parametrize(
    "title, topic",
    [
        ("老年证办理条件", "faq/elderly_card_eligibility"),
        ("危房改造申请条件", "faq/housing_renovation_eligibility"),
        ("危房改造申请流程", "faq/housing_renovation_process"),
        ("低保申请流程", "faq/subsistence_process"),
    ],
)
async def test_a_did_you_mean_title_pressed_is_answered_not_applied_for(title, topic):
    # Titles name a service beside 办/申请 and ask nothing: read as words, a request.
    latest = message(title, [(topic, 0.99)])
    tracker = Tracker("resident-1", {}, latest, [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    events = await faq.ActionTriage().run(dispatcher, tracker, {"responses": responses()})
    assert not [e for e in events if e["event"] == "followup"]
    assert [m["response"] for m in dispatcher.messages] == [f"utter_{topic}"]
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"} == {
        "understanding": "answered",
        "last_topic": topic,
    }
