"""Status checks as residents in a trial wrote them, against a real store on loopback.

The tracking number and the proof come in one message (「查下DA… 尾号0042」), and a
mistyped proof is asked for again until the store's throttling says to wait. Several
wordings each, Mandarin and Sichuanese.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import checks, status, validation
from tests.actions.domain_text import DOMAIN, rendered
from tests.actions.test_application_actions import SENIOR_ID
from tests.actions.test_withdrawal_and_lookup_actions import store, submitted

__all__ = ["store"]  # the fixture: a real store, and the actions' client pointed at it

STRANGER = "rest:another-phone"  # not the conversation that submitted: proof needed
LAST_FOUR = SENIOR_ID[-4:]  # 0042
PHONE = "13812345678"
CONTIGUOUS = re.compile(r"DA[0-9]{12}", re.IGNORECASE)


def asked(text: str, intent: str = "check_status", **slots: Any) -> Tracker:
    """A status question just written; the tracking number entity (and its slot) only
    when the NLU's regex finds it (written without spaces or dashes)."""
    match = CONTIGUOUS.search(text)
    entities = []
    if match:
        entities = [{"entity": "tracking_number", "value": match.group(0)}]
        slots.setdefault("tracking_number", match.group(0))
    return Tracker(
        sender_id=STRANGER,
        slots=slots,
        latest_message={"intent": {"name": intent}, "entities": entities, "text": text},
        events=[{"event": "user", "text": text}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def after_the_form(text: str, **slots: Any) -> Tracker:
    """The status form has just collected `slots` (read from the answers) for this check."""
    tracker = asked(text, "inform", **slots)
    tracker.latest_action_name = "status_form"
    return tracker


def in_status_form(requested: str, text: str, **slots: Any) -> Tracker:
    return Tracker(
        sender_id=STRANGER,
        slots={"requested_slot": requested, **slots},
        latest_message={"intent": {"name": "inform"}, "entities": [], "text": text},
        events=[{"event": "user", "text": text}],
        paused=False,
        followup_action=None,
        active_loop={"name": "status_form"},
        latest_action_name="action_listen",
    )


async def check(tracker: Tracker) -> tuple[list[dict[str, Any]], list[str]]:
    dispatcher = CollectingDispatcher()
    events = await status.ActionCheckStatus().run(dispatcher, tracker, DOMAIN)
    return events, rendered(dispatcher.messages)


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def followups(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events if e["event"] == "followup"]


def dashed(number: str) -> str:
    return f"{number[:2]}-{number[2:10]}-{number[10:]}"


def spaced(number: str) -> str:
    return f"{number[:2]} {number[2:10]} {number[10:]}"


# --- 2. The tracking number and the proof in one message ----------------------------


@pytest.mark.parametrize(
    "wording",
    [
        lambda n: f"查下{n} 尾号{LAST_FOUR}",
        lambda n: f"我的单子号是{n} 身份证后四位{LAST_FOUR}",
        lambda n: f"帮我看下{dashed(n)} 到哪一步了 电话{PHONE}",
        lambda n: f"{n.lower()}办好没得 手机号138 1234 5678",
        lambda n: f"{n} {LAST_FOUR}",
        lambda n: f"麻烦查一下 {spaced(n)} 后4位是{LAST_FOUR}哈",
        lambda n: f"{n[:2]} {n[2:6]} {n[6:10]} {n[10:]} 身份证尾号{LAST_FOUR} 批了没",
    ],
)
async def test_a_number_and_a_proof_in_one_message_are_looked_up_at_once(store, wording):
    number = await submitted()
    events, messages = await check(asked(wording(number)))
    assert followups(events) == []  # nothing more is asked
    assert len(messages) == 1 and number in messages[0] and "已提交" in messages[0]
    assert all(value is None for value in slots_of(events).values())  # proof forgotten


@pytest.mark.parametrize(
    "requested, wording",
    [
        ("tracking_number", lambda n: f"{n} 尾号{LAST_FOUR}"),
        ("tracking_number", lambda n: f"单号{dashed(n)}，身份证最后四位是{LAST_FOUR}"),
        ("tracking_number", lambda n: f"编号{n} 电话{PHONE}噻"),
        ("status_proof", lambda n: f"号码{n} 尾数{LAST_FOUR}"),
    ],
)
async def test_a_number_and_a_proof_given_to_the_lookups_question_are_both_taken(
    requested, wording
):
    number = "DA202612010007"
    tracker = in_status_form(requested, wording(number))
    dispatcher = CollectingDispatcher()
    events = await status.ValidateStatusForm().run(dispatcher, tracker, DOMAIN)
    slots = slots_of(events)
    assert slots["tracking_number"] == number
    assert slots["status_proof"] in (LAST_FOUR, PHONE)
    assert slots.get("requested_slot") is None and not dispatcher.messages


@pytest.mark.parametrize(
    "text, proof",
    [
        (f"尾号是{LAST_FOUR}哈", LAST_FOUR),
        (f"身份证最后四位{LAST_FOUR}", LAST_FOUR),
        (f"电话是{PHONE}", PHONE),
        ("后4位 004x", "004X"),
    ],
)
async def test_a_proof_in_words_is_read(text, proof):
    tracker = in_status_form("status_proof", text, tracking_number="DA202612010007")
    dispatcher = CollectingDispatcher()
    events = await status.ValidateStatusForm().run(dispatcher, tracker, DOMAIN)
    assert slots_of(events)["status_proof"] == proof and not dispatcher.messages


async def test_the_number_left_by_a_submission_does_not_stop_the_own_listing(store):
    number = await submitted("rest:resident-7")
    tracker = asked("查下进度", tracking_number=number)
    tracker.sender_id = "rest:resident-7"
    events, messages = await check(tracker)
    assert followups(events) == [] and number in messages[0]


@pytest.mark.parametrize(
    "text", [f"尾号{LAST_FOUR}", f"我身份证后四位是{LAST_FOUR}", f"电话{PHONE}"]
)
async def test_a_proof_without_a_number_is_kept_and_only_the_number_asked(store, text):
    events, messages = await check(asked(text))
    assert followups(events) == ["status_form"] and not messages
    assert slots_of(events)["status_proof"]  # validated when the form starts


@pytest.mark.parametrize("wording", ["电话后四位5678", "手机尾号是5678", "我手机号的后4位 5678"])
async def test_the_phones_last_four_are_explained_not_tried(store, wording):
    number = await submitted()
    events, messages = await check(asked(f"我的单子号是{number} {wording}"))
    # No lookup with a proof the store cannot check (it would count as a failure).
    assert followups(events) == ["status_form"] and not messages
    assert slots_of(events)["tracking_number"] == number
    tracker = in_status_form("status_proof", wording, tracking_number=number)
    dispatcher = CollectingDispatcher()
    slots = slots_of(await status.ValidateStatusForm().run(dispatcher, tracker, DOMAIN))
    assert slots["status_proof"] is None
    [message] = rendered(dispatcher.messages)
    assert message == DOMAIN["responses"]["utter_invalid_status_proof_phone_last_four"][0]["text"]
    assert "11位" in message


# --- 3. A mistyped proof is asked for again until the store says to wait --------------


@pytest.mark.parametrize("wrong", ["0043", "尾号0043", "13800000000", "身份证后四位是0024嘛"])
async def test_a_wrong_proof_is_asked_again_kindly(store, wrong):
    number = await submitted()
    proof = validation.status_proof(wrong)
    tracker = after_the_form(wrong, tracking_number=number, status_proof=proof)
    events, messages = await check(tracker)
    assert followups(events) == ["status_form"]  # the lookup goes on
    slots = slots_of(events)
    assert slots["status_proof"] is None and slots.get("tracking_number", number) == number
    assert messages == [
        DOMAIN["responses"]["utter_lookup_no_match"][0]["text"].format(tracking_number=number)
    ]
    assert "没有对上" in messages[0]

    right = after_the_form(LAST_FOUR, tracking_number=number, status_proof=LAST_FOUR)
    events, messages = await check(right)
    assert number in messages[0] and followups(events) == []


async def test_wrong_proofs_are_asked_again_until_the_store_says_to_wait(store):
    number = await submitted()
    no_match = DOMAIN["responses"]["utter_lookup_no_match"][0]["text"]
    asked_again = 0
    while asked_again < 20:
        events, messages = await check(
            after_the_form("0043", tracking_number=number, status_proof="0043")
        )
        if followups(events) != ["status_form"]:
            break
        assert messages == [no_match.format(tracking_number=number)]
        asked_again += 1
    assert 2 <= asked_again < 20  # asked again more than once, until the store's limit
    assert "分钟后再试" in messages[0] or "小时后再试" in messages[0]
    assert all(slots_of(events)[slot] is None for slot in checks.STATUS_SLOTS)
