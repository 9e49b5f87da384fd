"""A withdrawal checks the proof with the store before it asks for the yes, and a
question or digits at the confirmation are not a no (a resident trial: a wrong last 4
led to 「确定要撤回…吗？」 and only after 「确认撤回」 to 「没有对上」; 「等哈 撤了以后还能
不能再申请」 was taken as "no"). Against a real store on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker

from bot.actions import withdrawal
from tests.actions.domain_text import DOMAIN
from tests.actions.test_application_actions import SENIOR_ID
from tests.actions.test_withdrawal_and_lookup_actions import (
    followups,
    in_form,
    run,
    said,
    slots_of,
    store,
    submitted,
    withdraw_now,
)

__all__ = ["store"]  # the fixture: a real store, and the actions' client pointed at it

STRANGER = "rest:stranger"  # not the conversation that submitted: proof needed


def proof_given(number: str, text: str) -> Tracker:
    tracker = in_form("withdrawal_form", "withdrawal_proof", text, withdrawal_number=number)
    tracker.sender_id = STRANGER
    return tracker


def text_of(response: str, **values: Any) -> str:
    return DOMAIN["responses"][response][0]["text"].format(**values)


async def still_submitted(store) -> bool:
    return (await store.list_for_conversation("rest:resident-7"))[0].status == "submitted"


@pytest.mark.parametrize("wrong", ["0091", "尾号0043", "13800000000", "身份证后四位是0024嘛"])
async def test_a_wrong_proof_is_said_before_any_confirmation_is_asked(store, wrong):
    number = await submitted()
    slots, messages = await run(withdrawal.ValidateWithdrawalForm(), proof_given(number, wrong))
    assert messages == [text_of("utter_lookup_no_match", tracking_number=number)]
    assert slots["withdrawal_proof"] is None  # asked again, before the yes
    assert slots.get("withdrawal_confirmed") is None
    assert await still_submitted(store)


@pytest.mark.parametrize(
    "right, proof",
    [
        (SENIOR_ID[-4:], SENIOR_ID[-4:]),
        (f"尾号{SENIOR_ID[-4:]}", SENIOR_ID[-4:]),
        ("电话是138 1234 5678", "13812345678"),
        (f"身份证后四位是{SENIOR_ID[-4:]}嘛", SENIOR_ID[-4:]),
    ],
)
async def test_a_right_proof_leads_to_the_confirmation(store, right, proof):
    number = await submitted()
    slots, messages = await run(withdrawal.ValidateWithdrawalForm(), proof_given(number, right))
    assert not messages
    assert slots["withdrawal_proof"] == proof


async def test_wrong_proofs_end_the_withdrawal_when_the_store_says_to_wait(store):
    number = await submitted()
    for _ in range(20):
        slots, messages = await run(
            withdrawal.ValidateWithdrawalForm(), proof_given(number, "0043")
        )
        if slots.get("withdrawal_confirmed") is False:
            break
    assert "分钟后再试" in messages[-1] or "小时后再试" in messages[-1]
    # The form ends without a yes; the withdrawal then says nothing more and forgets.
    ended = said(STRANGER, "0043", "inform", withdrawal_number=number, **slots)
    events, after = await withdraw_now(ended)
    assert after == [] and followups(events) == []
    assert all(value is None for value in slots_of(events).values())
    assert await still_submitted(store)


def at_the_confirmation(number: str, text: str, intent: str, confirmed: bool | None) -> Tracker:
    """The resident answered 「确定要撤回…吗？」: the form read no clear yes (confirmed
    False), or a deny left the form (confirmed not set)."""
    return said(
        "rest:resident-7",
        text,
        intent,
        withdrawal_number=number,
        withdrawal_owned=True,
        withdrawal_confirmed=confirmed,
    )


@pytest.mark.parametrize(
    "text, intent",
    [
        ("等哈 撤了以后还能不能再申请", "deny"),
        ("撤了还能重新办不", "inform"),
        ("撤回了会不会影响我以后申请哦", "faq"),
        ("撤了以后咋个办嘛？", "deny"),
    ],
)
@pytest.mark.parametrize("confirmed", [False, None])
async def test_a_question_at_the_confirmation_is_answered_and_the_yes_asked_again(
    store, text, intent, confirmed
):
    number = await submitted()
    events, messages = await withdraw_now(at_the_confirmation(number, text, intent, confirmed))
    assert messages == [text_of("utter_withdrawal_question")]
    assert followups(events) == ["withdrawal_form"]
    assert slots_of(events) == {"withdrawal_confirmed": None}
    assert await still_submitted(store)


@pytest.mark.parametrize("digits", ["0019", "0042", "13812345678", "后四位0042"])
async def test_digits_at_the_confirmation_are_not_a_no(store, digits):
    number = await submitted()
    events, messages = await withdraw_now(at_the_confirmation(number, digits, "inform", False))
    assert messages == [text_of("utter_withdrawal_proof_not_needed")]
    assert followups(events) == ["withdrawal_form"]
    assert await still_submitted(store)


@pytest.mark.parametrize("no", ["不撤回", "算了 不撤了", "不要撤", "莫撤了"])
async def test_a_clear_no_at_the_confirmation_keeps_the_application(store, no):
    number = await submitted()
    events, messages = await withdraw_now(at_the_confirmation(number, no, "deny", False))
    assert messages == [text_of("utter_withdrawal_kept")]
    assert followups(events) == []
    assert await still_submitted(store)
