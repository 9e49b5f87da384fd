"""The first messages of a status check or a withdrawal started without a number.

Rasa starts the form right after the action that opened the check, and hands the
form's validation every slot that action set since the resident's message — the
check's slots, cleared (None). A cleared slot is nothing typed: the first message must
be the question, never a format error (「办件编号是DA开头加12位数字…请核对后再发」)
followed by the proof's (a resident trial: 「查进度」 got three messages).
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import status, withdrawal
from bot.actions.checks import STATUS_SLOTS, WITHDRAWAL_SLOTS
from tests.actions.domain_text import DOMAIN, rendered
from tests.actions.test_withdrawal_and_lookup_actions import store

__all__ = ["store"]  # the fixture: a real store, and the actions' client pointed at it


def form_starting(form: str, text: str, intent: str, opened_by: str, cleared: tuple) -> Tracker:
    """The tracker Rasa sends the form's validation as the form starts: the opening
    action's cleared slots since the message, then the form's own candidates."""
    slot_events = [{"event": "slot", "name": slot, "value": None} for slot in cleared]
    return Tracker(
        sender_id="rest:no-number-here",
        slots={slot: None for slot in cleared},
        latest_message={"intent": {"name": intent}, "entities": [], "text": text},
        events=[
            {"event": "user", "text": text},
            {"event": "action", "name": opened_by},
            *slot_events,
            {"event": "slot", "name": "requested_slot", "value": None},
            {"event": "action", "name": form},
            *slot_events,
        ],
        paused=False,
        followup_action=None,
        active_loop={"name": form},
        latest_action_name=form,
    )


async def first_messages(action: Any, tracker: Tracker) -> tuple[list[dict], list[str]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return events, rendered(dispatcher.messages)


def nothing_taken(events: list[dict], first_question: str) -> bool:
    """No slot got a value; the question asked next (when the validation names it, as
    the withdrawal's does) is the first one."""
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    asked = slots.pop("requested_slot", first_question)
    return asked == first_question and not any(slots.values())


@pytest.mark.parametrize(
    "text", ["查进度", "我的申请办到哪一步了", "帮我看哈批下来没得", "我妈那个低保办得咋样了"]
)
async def test_a_status_check_without_a_number_starts_with_the_question(store, text):
    opening, _ = await first_messages(
        status.ActionCheckStatus(),
        form_starting("status_form", text, "check_status", "action_listen", ()),
    )
    assert [e["name"] for e in opening if e["event"] == "followup"] == ["status_form"]
    tracker = form_starting(
        "status_form", text, "check_status", "action_check_status", STATUS_SLOTS
    )
    events, messages = await first_messages(status.ValidateStatusForm(), tracker)
    assert messages == []
    assert nothing_taken(events, "tracking_number")


def test_the_number_question_says_where_the_number_is_and_that_id_and_phone_work():
    question = DOMAIN["responses"]["utter_ask_tracking_number"][0]["text"]
    assert "DA开头" in question and "没有编号" in question and "身份证" in question
    assert "核对后再发" not in question


@pytest.mark.parametrize("text", ["我想把我妈的低保申请撤了", "那个申请我不要了 撤回", "撤销申请"])
async def test_a_withdrawal_without_a_number_starts_with_the_question(store, text):
    tracker = form_starting(
        "withdrawal_form", text, "cancel", "action_offer_withdrawal", WITHDRAWAL_SLOTS
    )
    events, messages = await first_messages(withdrawal.ValidateWithdrawalForm(), tracker)
    assert messages == []
    assert nothing_taken(events, "withdrawal_number")
