"""Turns as Rasa's tracker holds them, built with Rasa's own event classes, for the
capture tests: each list is what one save hands the event broker."""

from __future__ import annotations

from typing import Any

from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)

MODEL_ID = "5d0b9c8e1f2a4b3c9d8e7f6a5b4c3d2e"
SENDER = "rest:resident-1"
MATERIALS, MATERIALS_TITLE = "faq/subsistence_materials", "低保要带啥子材料"
ELIGIBILITY, ELIGIBILITY_TITLE = "faq/subsistence_eligibility", "哪些人能吃低保"
HANDOFF = "转人工"


def parse_data(text: str, intent: str, confidence: float) -> dict[str, Any]:
    """What the model returns: intent ranking and both response selectors' rankings."""
    return {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "intent_ranking": [
            {"name": intent, "confidence": confidence},
            {"name": "faq", "confidence": 0.21},
            {"name": "out_of_scope", "confidence": 0.12},
            {"name": "greet", "confidence": 0.02},
        ],
        "response_selector": {
            "all_retrieval_intents": ["faq", "out_of_scope"],
            "faq": {
                "response": {"intent_response_key": MATERIALS, "confidence": 0.41},
                "ranking": [
                    {"id": 1, "confidence": 0.41, "intent_response_key": MATERIALS},
                    {"id": 2, "confidence": 0.33, "intent_response_key": ELIGIBILITY},
                    {"id": 3, "confidence": 0.08, "intent_response_key": "faq/pension_benefit"},
                ],
            },
            "out_of_scope": {
                "response": {"intent_response_key": "out_of_scope/other", "confidence": 0.52},
                "ranking": [
                    {"id": 4, "confidence": 0.52, "intent_response_key": "out_of_scope/other"},
                    {"id": 5, "confidence": 0.3, "intent_response_key": "out_of_scope/vaccination"},
                ],
            },
        },
    }


def user(text: str, intent: str = "nlu_fallback", confidence: float = 0.38) -> UserUttered:
    return UserUttered(
        text,
        intent={"name": intent, "confidence": confidence},
        parse_data=parse_data(text, intent, confidence),
        input_channel="rest",
        metadata={"model_id": MODEL_ID, "assistant_id": "daan"},
    )


def said(response: str, text: str, **extra: Any) -> BotUttered:
    """A bot event as Rasa makes it from a response: its name in `utter_action`."""
    buttons = extra.pop("buttons", None)
    return BotUttered(
        text,
        data={"buttons": buttons} if buttons else {},
        metadata={"utter_action": response, **extra},
    )


def listen() -> ActionExecuted:
    return ActionExecuted("action_listen")


def fallback_turn(text: str = "我家猫跑了咋个办") -> list[Event]:
    return [
        user(text),
        ActionExecuted("action_triage"),
        SlotSet("understanding", "lost"),
        ActionExecuted("utter_default"),
        said("utter_default", "不好意思，我没太听明白。能换个说法再问一次吗？"),
        listen(),
    ]


def core_fallback_turn(text: str = "嗯嗯那个啥") -> list[Event]:
    """Rasa's own fallback: uttered by action_default_fallback, which reverts the message."""
    return [
        user(text, intent="greet", confidence=0.31),
        ActionExecuted("action_default_fallback"),
        said("utter_default", "不好意思，我没太听明白。能换个说法再问一次吗？"),
        UserUtteranceReverted(),
        listen(),
    ]


def clarify_turn(text: str = "吃低保那个") -> list[Event]:
    buttons = [
        {"title": MATERIALS_TITLE, "payload": MATERIALS_TITLE},
        {"title": ELIGIBILITY_TITLE, "payload": ELIGIBILITY_TITLE},
        {"title": HANDOFF, "payload": HANDOFF},
    ]
    return [
        user(text, intent="faq", confidence=0.72),
        ActionExecuted("action_triage"),
        SlotSet("understanding", "unsure"),
        SlotSet("suggestion_1", MATERIALS_TITLE),
        SlotSet("suggestion_2", ELIGIBILITY_TITLE),
        SlotSet("suggestion_count", "2"),
        ActionExecuted("utter_clarify"),
        said("utter_clarify", "我不太确定您问的是哪一个，是下面这些吗？", buttons=buttons),
        listen(),
    ]


def answer_turn(text: str, topic: str = MATERIALS, title: str = MATERIALS_TITLE) -> list[Event]:
    """A knowledge-base answer as action_triage utters it (through the action server)."""
    return [
        user(text, intent="faq", confidence=0.97),
        ActionExecuted("action_triage"),
        SlotSet("understanding", "confident"),
        ActionExecuted("utter_faq"),
        said(f"utter_{topic}", "一般要带户口本、身份证……", metadata={"title": title}),
        listen(),
    ]


def out_of_scope_turn(text: str = "娃娃打疫苗在哪里") -> list[Event]:
    return [
        user(text, intent="out_of_scope", confidence=0.93),
        ActionExecuted("utter_out_of_scope"),
        said("utter_out_of_scope/vaccination", "打疫苗请到社区卫生服务中心。"),
        listen(),
    ]


QUEUED = ("utter_handoff_queued", "已经帮您转给工作人员了，您前面还有2位。")


def handoff_turn(text: str = HANDOFF, reply: tuple[str, str] = QUEUED) -> list[Event]:
    """「转人工」 answered by action_request_handoff with `reply` (response, text)."""
    return [
        user(text, intent="ask_human", confidence=0.99),
        ActionExecuted("action_request_handoff"),
        said(*reply),
        listen(),
    ]


def form_stopped_turn(text: str = "我也不晓得") -> list[Event]:
    return [
        user(text, intent="inform", confidence=0.64),
        ActionExecuted("elderly_card_form"),
        SlotSet("township", "牛佛镇"),
        ActionExecuted("action_submit_application"),
        SlotSet("application_outcome", "gave_up"),
        ActionExecuted("utter_too_many_tries"),
        said("utter_too_many_tries", "这项试了几次都没对上，先停一下，我帮您找工作人员。"),
        ActionExecuted("action_request_handoff"),
        said(*QUEUED),
        listen(),
    ]


def streamed(events: list[Event], sender: str = SENDER) -> list[dict[str, Any]]:
    """The bodies the tracker store publishes, as Rasa's `_stream_new_events` builds them."""
    return [{"sender_id": sender, **event.as_dict()} for event in events]
