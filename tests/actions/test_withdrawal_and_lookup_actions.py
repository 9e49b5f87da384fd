"""Withdrawal and lookups by the action server, against a real store on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import applications, status, validation, withdrawal
from bot.actions.store_client import StoreClient, StoreRejected
from bot.actions.throttling import tell_to_wait
from tests.actions.domain_text import DOMAIN, rendered
from tests.actions.test_application_actions import (
    SENIOR_ID,
    TOKEN,
    confirmed_application,
    start_test_store,
    submit,
)
from tests.servers import free_port


@pytest_asyncio.fixture
async def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[StoreClient]:
    port = free_port()
    server = start_test_store(tmp_path, port)
    try:
        async with StoreClient(f"http://127.0.0.1:{port}", TOKEN, timeout_seconds=5) as client:
            for module in (applications, status, withdrawal):
                monkeypatch.setattr(module, "shared_client", lambda: client)
            yield client
    finally:
        server.stop()


def said(sender: str, text: str, intent: str = "cancel", **slots: Any) -> Tracker:
    return Tracker(
        sender_id=sender,
        slots=slots,
        latest_message={"intent": {"name": intent}, "entities": [], "text": text},
        events=[{"event": "user", "text": text}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run(action: Any, tracker: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, rendered(
        dispatcher.messages
    )


def after_the_status_form(tracker: Tracker) -> Tracker:
    """The status form has just collected the tracker's slots for this check."""
    tracker.latest_action_name = "status_form"
    return tracker


def still_set(slots: dict[str, Any]) -> dict[str, Any]:
    """The slots left with a value (a withdrawal first forgets what earlier checks left)."""
    return {slot: value for slot, value in slots.items() if value is not None}


async def submitted(sender: str = "rest:resident-7") -> str:
    tracker = confirmed_application()
    tracker.sender_id = sender
    return (await submit(tracker))["tracking_number"]


@pytest.mark.parametrize("text", ["我那个申请不想办了 咋个撤回", "不办了", "撤回申请"])
async def test_a_cancel_after_submitting_offers_to_withdraw_that_application(store, text):
    number = await submitted()
    slots, messages = await run(withdrawal.ActionOfferWithdrawal(), said("rest:resident-7", text))
    assert still_set(slots) == {
        "withdrawal_number": number,
        "withdrawal_owned": True,
        "withdrawal_offer": "form",
    }
    assert not any("没有办任何事" in message for message in messages)


async def test_a_cancel_with_nothing_submitted_says_so_without_claiming_too_much(store):
    slots, _ = await run(withdrawal.ActionOfferWithdrawal(), said("rest:nobody", "算了"))
    assert still_set(slots) == {"withdrawal_offer": "nothing"}
    text = DOMAIN["responses"]["utter_nothing_to_cancel"][0]["text"]
    assert "撤回" in text and "没有办任何事" not in text


@pytest.mark.parametrize("text", ["我要申请", "那我就申请嘛"])
async def test_a_request_read_as_a_cancel_starts_the_application_just_answered(text):
    # 「我要申请」 after a 低保 answer: the classifier may take 「我要…申请」 for 「我不申请了」.
    tracker = said("rest:resident-12", text, last_topic="faq/subsistence_process")
    dispatcher = CollectingDispatcher()
    events = await withdrawal.ActionOfferWithdrawal().run(dispatcher, tracker, DOMAIN)
    assert [(e["event"], e.get("name")) for e in events] == [
        ("followup", "action_start_application")
    ]
    assert not dispatcher.messages


async def test_an_explicit_withdrawal_from_elsewhere_asks_for_the_number(store):
    slots, _ = await run(withdrawal.ActionOfferWithdrawal(), said("rest:new-phone", "我要撤回申请"))
    assert still_set(slots) == {"withdrawal_offer": "form"}


async def test_withdrawing_after_yes_and_keeping_after_no(store):
    number = await submitted()
    kept = said("rest:resident-7", "不撤回", withdrawal_number=number, withdrawal_owned=True)
    _, messages = await run(withdrawal.ActionWithdrawApplication(), kept)
    assert "没有撤回" in messages[0]
    assert (await store.list_for_conversation("rest:resident-7"))[0].status == "submitted"

    yes = said(
        "rest:resident-7",
        "确认撤回",
        withdrawal_number=number,
        withdrawal_owned=True,
        withdrawal_confirmed=True,
    )
    slots, messages = await run(withdrawal.ActionWithdrawApplication(), yes)
    assert "已撤回" in messages[0] and number in messages[0]
    assert slots["withdrawal_number"] is None  # forgotten
    assert (await store.list_for_conversation("rest:resident-7"))[0].status == "withdrawn"


def withdrawing(number: str, proof: str | None, sender: str = "rest:stranger") -> Tracker:
    """The withdrawal form just completed: number, proof (as the form read it) and yes."""
    return said(
        sender,
        "确认撤回",
        "affirm",
        withdrawal_number=number,
        withdrawal_confirmed=True,
        withdrawal_proof=proof,
    )


async def withdraw_now(tracker: Tracker) -> tuple[list[dict[str, Any]], list[str]]:
    dispatcher = CollectingDispatcher()
    events = await withdrawal.ActionWithdrawApplication().run(dispatcher, tracker, DOMAIN)
    return events, rendered(dispatcher.messages)


def followups(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events if e["event"] == "followup"]


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


@pytest.mark.parametrize("wrong", ["0043", "尾号0043", "13800000000", "身份证后四位是0024嘛"])
async def test_a_wrong_proof_in_a_withdrawal_is_asked_again_kindly(store, wrong):
    number = await submitted()
    events, messages = await withdraw_now(withdrawing(number, validation.status_proof(wrong)))
    # As in a status check: 「没有对上」, the number kept, the proof asked again.
    no_match = DOMAIN["responses"]["utter_lookup_no_match"][0]["text"]
    assert messages == [no_match.format(tracking_number=number)]
    assert followups(events) == ["withdrawal_form"]
    slots = slots_of(events)
    assert slots["withdrawal_number"] == number and slots["withdrawal_proof"] is None
    # The yes was for this number: it is asked again after the proof, beside the number.
    assert slots["withdrawal_confirmed"] is None
    assert (await store.list_for_conversation("rest:resident-7"))[0].status == "submitted"

    _, messages = await withdraw_now(withdrawing(number, SENIOR_ID[-4:]))
    assert "已撤回" in messages[0]


async def test_wrong_proofs_in_a_withdrawal_are_asked_again_until_the_store_says_to_wait(store):
    number = await submitted()
    asked_again = 0
    while asked_again < 20:
        events, messages = await withdraw_now(withdrawing(number, "0043"))
        if followups(events) != ["withdrawal_form"]:
            break
        assert "没有对上" in messages[0]
        asked_again += 1
    assert 2 <= asked_again < 20  # asked again more than once, until the store's limit
    assert "分钟后再试" in messages[0] or "小时后再试" in messages[0]
    assert all(value is None for value in slots_of(events).values())  # proof forgotten
    assert (await store.list_for_conversation("rest:resident-7"))[0].status == "submitted"


@pytest.mark.parametrize(
    "requested, wording",
    [
        ("withdrawal_proof", lambda n: f"编号{n} 尾号{SENIOR_ID[-4:]}"),
        (
            "withdrawal_proof",
            lambda n: f"号码是{n[:2]}-{n[2:10]}-{n[10:]} 身份证后四位{SENIOR_ID[-4:]}",
        ),
        ("withdrawal_proof", lambda n: f"单子号{n}"),
        ("withdrawal_number", lambda n: f"撤回{n} 电话13812345678"),
        ("withdrawal_number", lambda n: f"{n} {SENIOR_ID[-4:]}"),
    ],
)
async def test_a_corrected_number_and_a_proof_are_taken_at_the_withdrawals_questions(
    store, requested, wording
):
    number = await submitted()
    # After 「没有对上」 the resident may send the right number, with the proof or not.
    tracker = in_form(
        "withdrawal_form", requested, wording(number), withdrawal_number="DA202601010001"
    )
    tracker.sender_id = "rest:stranger"
    slots, messages = await run(withdrawal.ValidateWithdrawalForm(), tracker)
    assert slots["withdrawal_number"] == number and slots["withdrawal_owned"] is False
    assert slots.get("withdrawal_proof") in (None, SENIOR_ID[-4:], "13812345678")
    assert ("withdrawal_proof" in slots) == ("单子号" not in wording(number))
    assert not messages


async def test_a_decided_application_is_said_to_be_too_late_to_withdraw(store):
    number = await submitted()
    await store.withdraw(number, "rest:resident-7")  # decided: withdrawn already
    yes = said(
        "rest:resident-7",
        "确认撤回",
        withdrawal_number=number,
        withdrawal_owned=True,
        withdrawal_confirmed=True,
    )
    _, messages = await run(withdrawal.ActionWithdrawApplication(), yes)
    assert "已撤回" in messages[0] and "不能在网上撤回" in messages[0]


async def test_the_store_down_is_said_honestly(monkeypatch: pytest.MonkeyPatch):
    async with StoreClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout_seconds=1) as down:
        monkeypatch.setattr(withdrawal, "shared_client", lambda: down)
        _, messages = await run(
            withdrawal.ActionOfferWithdrawal(), said("rest:resident-7", "不办了")
        )
    assert "连不上" in messages[0] and "照常办理" in messages[0]


async def test_a_lookup_by_id_and_phone_lists_the_applications_masked(store):
    number = await submitted()
    tracker = said(
        "rest:another-phone",
        "13812345678",
        "inform",
        lookup_id_number=SENIOR_ID,
        lookup_phone="13812345678",
    )
    slots, messages = await run(status.ActionCheckStatus(), after_the_status_form(tracker))
    assert number in messages[0] and SENIOR_ID not in messages[0]
    assert slots["lookup_id_number"] is None and slots["lookup_phone"] is None

    wrong = said(
        "rest:another-phone", "x", "inform", lookup_id_number=SENIOR_ID, lookup_phone="13900000000"
    )
    _, messages = await run(status.ActionCheckStatus(), after_the_status_form(wrong))
    assert "没有查到" in messages[0] and number not in messages[0]


def in_form(form: str, requested: str, text: str, intent: str = "inform", **slots: Any) -> Tracker:
    return Tracker(
        sender_id="rest:resident-7",
        slots={"requested_slot": requested, **slots},
        latest_message={"intent": {"name": intent}, "entities": [], "text": text},
        events=[{"event": "user", "text": text}],
        paused=False,
        followup_action=None,
        active_loop={"name": form},
        latest_action_name="action_listen",
    )


@pytest.mark.parametrize("text", ["编号忘了", "我没有编号", "单号找不到了", "不晓得号码"])
async def test_a_resident_without_the_number_is_asked_for_id_and_phone(text):
    tracker = in_form("status_form", "tracking_number", text)
    slots, messages = await run(status.ValidateStatusForm(), tracker)
    assert slots["lookup_mode"] == "applicant"
    assert slots["requested_slot"] == "lookup_id_number"
    assert not messages


@pytest.mark.parametrize(
    "intent, text",
    [("cancel", "算了"), ("deny", "不查了"), ("ask_human", "转人工"), ("greet", "你好")],
)
async def test_leaving_a_lookup_is_not_taken_as_a_tracking_number(intent, text):
    tracker = in_form("status_form", "tracking_number", text, intent)
    slots, _ = await run(status.ValidateStatusForm(), tracker)
    assert "tracking_number" not in slots


@pytest.mark.parametrize(
    "text, confirmed",
    [
        ("确认撤回", True),
        ("对 撤了嘛", True),
        ("要得", True),
        ("不撤回", False),
        ("算了 不撤了", False),
    ],
)
async def test_the_withdrawal_is_confirmed_only_by_a_clear_yes(store, text, confirmed):
    number = await submitted()
    tracker = in_form(
        "withdrawal_form",
        "withdrawal_confirmed",
        text,
        withdrawal_number=number,
        withdrawal_owned=True,
    )
    dispatcher = CollectingDispatcher()
    events = await withdrawal.ValidateWithdrawalForm().get_extraction_events(
        dispatcher, tracker, DOMAIN
    )
    assert {e["name"]: e["value"] for e in events} == {"withdrawal_confirmed": confirmed}


# A trial's 「撤回DA202612010003」 at 「确定要撤回办件 DA202612010003 吗？」 was read as no.
@pytest.mark.parametrize(
    "text, confirmed",
    [
        ("撤回{number}", True),
        ("撤回 {number}", True),
        ("确认撤回{spaced}", True),
        ("{lower} 撤了吧", True),
        ("撤回{other}", False),  # another application's number is not a yes to this one
        ("不撤回{number}", False),
        ("{number} 我再想想", False),
    ],
)
async def test_the_withdrawal_said_again_with_its_number_is_a_yes(store, text, confirmed):
    number = await submitted()
    other = f"{number[:-4]}{(int(number[-4:]) + 1) % 10000:04d}"
    spaced = f"{number[:2]} {number[2:10]} {number[10:]}"
    said_text = text.format(number=number, other=other, spaced=spaced, lower=number.lower())
    tracker = in_form(
        "withdrawal_form",
        "withdrawal_confirmed",
        said_text,
        withdrawal_number=number,
        withdrawal_owned=True,
    )
    events = await withdrawal.ValidateWithdrawalForm().get_extraction_events(
        CollectingDispatcher(), tracker, DOMAIN
    )
    assert {e["name"]: e["value"] for e in events} == {"withdrawal_confirmed": confirmed}


@pytest.mark.parametrize(
    "requested, text, expected",
    [
        (
            "tracking_number",
            f"都说忘了嘛 身份证是{SENIOR_ID}",
            {"lookup_mode": "applicant", "lookup_id_number": SENIOR_ID},
        ),
        (
            "lookup_id_number",
            f"{SENIOR_ID} 电话138 1234 5678",
            {"lookup_id_number": SENIOR_ID, "lookup_phone": "13812345678"},
        ),
    ],
)
async def test_an_id_and_a_phone_given_together_are_both_taken(requested, text, expected):
    tracker = in_form("status_form", requested, text, lookup_mode="applicant")
    slots, _ = await run(status.ValidateStatusForm(), tracker)
    assert {slot: slots.get(slot) for slot in expected} == expected


async def test_a_tracking_number_with_a_withdrawal_word_goes_to_the_withdrawal():
    tracker = said("rest:resident-7", "撤回DA202612010007", "inform")
    dispatcher = CollectingDispatcher()
    events = await status.ActionCheckStatus().run(dispatcher, tracker, DOMAIN)
    assert [e["name"] for e in events if e["event"] == "followup"] == ["action_offer_withdrawal"]


@pytest.mark.parametrize("text", ["不查了", "算了 不用查了", "不看了"])
async def test_stopping_a_lookup_in_words_ends_it_whatever_the_intent(store, text):
    tracker = in_form("status_form", "tracking_number", text, "inform")
    slots, messages = await run(status.ValidateStatusForm(), tracker)
    assert slots["lookup_mode"] == "stopped" and slots.get("requested_slot") is None
    assert not messages
    ended = said("rest:resident-7", text, "inform", lookup_mode="stopped")
    slots, messages = await run(status.ActionCheckStatus(), after_the_status_form(ended))
    assert "不查了" in messages[0] and slots["lookup_mode"] is None


@pytest.mark.parametrize(
    ("retry_after", "response", "values"),
    [
        (30, "utter_lookup_too_many_tries", {"minutes": 1}),
        (900, "utter_lookup_too_many_tries", {"minutes": 15}),
        (7200, "utter_lookup_too_many_tries", {"minutes": 120}),
        (7260, "utter_lookup_too_many_tries_hours", {"hours": 3}),
        (86400, "utter_lookup_too_many_tries_hours", {"hours": 24}),
    ],
)
def test_the_wait_after_too_many_tries_is_said_in_minutes_or_hours(
    retry_after: int, response: str, values: dict[str, int]
) -> None:
    # "请1440分钟后再试" means little to an elderly reader.
    dispatcher = CollectingDispatcher()
    refusal = StoreRejected(429, "too_many_attempts", "wait", {"retry_after": retry_after})
    tell_to_wait(dispatcher, refusal)
    [message] = dispatcher.messages
    assert message["response"] == response
    assert {key: message[key] for key in values} == values
    assert response in DOMAIN["responses"]


# Found by residents: the proof in the message that asks to withdraw was asked again.
@pytest.mark.parametrize(
    "template",
    [
        "帮我把{number}撤了，身份证后四位是0042",
        "撤回{number} 身份证后四位0042",
        "撤销申请 {number} 手机13812345678",
        "{number}不办了 尾号0042",
    ],
)
async def test_a_proof_sent_with_the_number_to_withdraw_is_taken(store, template):
    number = await submitted("rest:someone-else")
    text = template.format(number=number)
    slots, _ = await run(withdrawal.ActionOfferWithdrawal(), said("rest:resident-8", text))
    assert slots["withdrawal_number"] == number
    assert slots["withdrawal_owned"] is False
    # As typed: the form reads it (and checks it with the store) like any proof.
    assert validation.status_proof(slots["withdrawal_proof"]) in {"0042", "13812345678"}
