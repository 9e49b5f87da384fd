"""A yes or no with nothing waiting for it never sounds like something was done (a
resident trial: 「莫存我的信息了」, 「那还是撤了嘛」 and 「算了还是提交嘛」 all got 「好的。
还有什么可以帮您？」 and the residents believed it done). Mandarin and Sichuanese."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import out_of_context
from tests.actions.domain_text import DOMAIN, rendered
from tests.actions.test_withdrawal_and_lookup_actions import said


def replied(text: str, intent: str = "affirm", **slots: Any) -> Tracker:
    return said("rest:resident-ooc", text, intent, **slots)


async def answer(tracker: Tracker) -> tuple[str | None, list[str]]:
    dispatcher = CollectingDispatcher()
    events = await out_of_context.ActionAnswerOutOfContext().run(dispatcher, tracker, DOMAIN)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    return slots.get("out_of_context_reply"), rendered(dispatcher.messages)


def text_of(response: str) -> str:
    return DOMAIN["responses"][response][0]["text"]


@pytest.mark.parametrize("intent", ["affirm", "deny"])
@pytest.mark.parametrize(
    "text", ["莫存我的信息了", "你们不要存我的东西", "把我说的都删了嘛", "别留我的记录", "清掉算了"]
)
async def test_a_request_not_to_keep_anything_goes_to_the_erasure_confirmation(text, intent):
    reply, messages = await answer(replied(text, intent))
    assert reply == "erase" and messages == []


@pytest.mark.parametrize("intent", ["affirm", "deny"])
@pytest.mark.parametrize("text", ["那还是撤了嘛", "撤回嘛", "要得 撤销", "还是退掉算了"])
async def test_a_request_to_withdraw_goes_to_the_withdrawal(text, intent):
    reply, messages = await answer(replied(text, intent))
    assert reply == "withdraw" and messages == []


@pytest.mark.parametrize(
    "service, restart",
    [
        ("elderly_card", "办老年证"),
        ("subsistence_allowance", "办低保"),
        ("housing_renovation", "危房改造"),
        ("temporary_relief", "临时救助"),
    ],
)
@pytest.mark.parametrize("text", ["算了还是提交嘛", "还是办嘛", "唉 还是要申请", "交上去嘛"])
async def test_a_request_to_submit_after_leaving_a_form_says_nothing_was_submitted(
    text, service, restart
):
    reply, messages = await answer(replied(text, service_type=service, application_outcome=None))
    assert reply == "answered"
    assert len(messages) == 1
    assert "没有提交" in messages[0] and "删" in messages[0] and restart in messages[0]


@pytest.mark.parametrize("intent", ["affirm", "deny"])
@pytest.mark.parametrize(
    "text", ["好的", "要得", "对头", "不是", "不用了", "不删了", "不撤了", "不办了", "莫删"]
)
async def test_otherwise_it_says_nothing_is_waiting_and_what_can_be_said(text, intent):
    reply, messages = await answer(replied(text, intent, service_type="elderly_card"))
    assert reply == "answered"
    assert messages == [text_of("utter_nothing_pending")]
    assert "好的。还有什么" not in messages[0]
    assert "查进度" in messages[0] and "撤回" in messages[0] and "删除" in messages[0]


async def test_a_request_to_submit_with_nothing_left_is_not_told_of_a_deletion():
    reply, messages = await answer(replied("还是提交嘛", service_type=None))
    assert reply == "answered" and messages == [text_of("utter_nothing_pending")]
