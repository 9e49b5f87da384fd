"""A status check or a withdrawal forgets its tracking number and proof whenever it ends:
found, not found, left (算了, 不查了, 转人工, a greeting, a question, another
application) or throttled; and a check that starts never takes what an earlier one left
behind. Against a real store on loopback."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import applications, checks, status, withdrawal
from tests.actions.domain_text import DOMAIN
from tests.actions.test_application_actions import SENIOR_ID
from tests.actions.test_withdrawal_and_lookup_actions import store, submitted
from tests.conftest import ROOT

__all__ = ["store"]  # the fixture: a real store, and the actions' client pointed at it

STRANGER = "rest:another-phone"
CHECK_SLOTS = (*checks.STATUS_SLOTS, *checks.WITHDRAWAL_SLOTS)
# What an earlier check left: a number, a proof (personal data), a half-done withdrawal.
LEFT_BEHIND = {
    "tracking_number": "DA202611300007",
    "status_proof": "0042",
    "lookup_id_number": SENIOR_ID,
    "lookup_phone": "13812345678",
    "lookup_mode": "applicant",
    "withdrawal_number": "DA202611300007",
    "withdrawal_proof": "0042",
    "withdrawal_confirmed": True,
    "withdrawal_owned": False,
}


def message(
    text: str,
    intent: str,
    slots: dict[str, Any],
    latest_action: str = "action_listen",
    active_loop: str | None = None,
) -> Tracker:
    number = number_in(text)
    return Tracker(
        sender_id=STRANGER,
        slots=slots,
        latest_message={
            "intent": {"name": intent},
            "entities": [{"entity": "tracking_number", "value": number}] if number else [],
            "text": text,
        },
        events=[{"event": "user", "text": text}],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name=latest_action,
    )


def number_in(text: str) -> str | None:
    """The tracking number the NLU's regex entity would find (written without gaps)."""
    start = text.find("DA")
    return text[start : start + 14] if start >= 0 else None


async def run(action: Any, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def forgotten(events: list[dict[str, Any]]) -> bool:
    """Every slot of both checks is set to None by these events."""
    values = slots_of(events)
    return all(slot in values and values[slot] is None for slot in CHECK_SLOTS)


def test_the_check_slots_are_every_slot_the_two_forms_and_their_actions_fill():
    forms = DOMAIN["forms"]
    asked = {*forms["status_form"]["required_slots"], *forms["withdrawal_form"]["required_slots"]}
    assert asked | {"lookup_id_number", "lookup_phone", "lookup_mode"} <= set(CHECK_SLOTS)
    assert {"withdrawal_owned", "withdrawal_offer"} <= set(CHECK_SLOTS)


async def test_leaving_a_check_forgets_its_number_and_proof():
    events, messages = await run(checks.ActionLeaveCheck(), message("转人工", "ask_human", {}))
    assert forgotten(events) and not messages


# --- The rules: every way out of the two forms goes through the forgetting ------------


def exit_rules() -> list[tuple[str, list[dict[str, Any]]]]:
    rules = yaml.safe_load((ROOT / "bot/data/core/status_rules.yml").read_text("utf-8"))
    leaving = []
    for rule in rules["rules"]:
        loops = [c.get("active_loop") for c in rule.get("condition", [])]
        actions = [step.get("action") for step in rule["steps"] if "action" in step]
        if {"status_form", "withdrawal_form"} & set(loops) and "action_deactivate_loop" in actions:
            leaving.append((rule["rule"], actions))
    return leaving


def test_the_forms_have_exit_rules():
    # 算了, 不查了 (deny), 转人工, goodbye, thanks, a greeting, a question: 10 + 3.
    assert len(exit_rules()) >= 13


@pytest.mark.parametrize("name, actions", exit_rules(), ids=[name for name, _ in exit_rules()])
def test_every_way_out_of_a_check_forgets_it(name, actions):
    after = actions[actions.index("action_deactivate_loop") + 1]
    # The withdrawal's own end forgets too (and says the application stays).
    assert after in ("action_leave_check", "action_withdraw_application"), name


# --- Ends inside the actions ---------------------------------------------------------


@pytest.mark.parametrize("text", ["我要办老年证", "帮我妈申请低保", "我想申请临时救助"])
@pytest.mark.parametrize("form", ["status_form", "withdrawal_form"])
async def test_another_application_asked_for_mid_check_forgets_the_check(text, form):
    tracker = message(text, "apply_elderly_card", LEFT_BEHIND, active_loop=form)
    events, _ = await run(applications.ActionStartApplication(), tracker)
    assert forgotten(events)
    assert slots_of(events)["application_start"]  # and the application starts


async def test_a_withdrawal_ended_forgets_the_number_its_request_named(store):
    number = await submitted()
    # 「撤回DA…」 also filled tracking_number (its entity), the withdrawal's own slots too.
    slots = {"tracking_number": number, "withdrawal_number": number, "withdrawal_owned": True}
    for text, confirmed in (("确认撤回", True), ("不撤回", False)):
        tracker = message(text, "affirm", {**slots, "withdrawal_confirmed": confirmed})
        tracker.sender_id = "rest:resident-7"
        events, _ = await run(withdrawal.ActionWithdrawApplication(), tracker)
        assert forgotten(events), text


async def test_a_throttled_withdrawal_forgets_the_number_and_proof(store):
    number = await submitted()
    for _ in range(20):  # the store's limit comes well before
        slots = {**LEFT_BEHIND, "withdrawal_number": number, "withdrawal_proof": "0043"}
        events, messages = await run(
            withdrawal.ActionWithdrawApplication(), message("确认撤回", "affirm", slots)
        )
        if messages[0]["response"] != "utter_lookup_no_match":
            break
    assert messages[0]["response"].startswith("utter_lookup_too_many_tries")
    assert forgotten(events)


# --- A check that starts takes nothing an earlier one left ----------------------------


@pytest.mark.parametrize("text", ["查进度", "我的申请办到哪一步了", "帮我查一下嘛"])
async def test_a_new_status_check_asks_afresh(store, text):
    events, messages = await run(
        status.ActionCheckStatus(), message(text, "check_status", LEFT_BEHIND)
    )
    # No lookup with the proof or the ID and phone left behind: they are forgotten and
    # the form asks for the number.
    assert not messages
    assert [e["name"] for e in events if e["event"] == "followup"] == ["status_form"]
    assert forgotten(events)


@pytest.mark.parametrize("wording", ["查下{n}", "{n}到哪一步了", "我的单子号是{n}"])
async def test_a_new_number_is_asked_its_own_proof(store, wording):
    number = await submitted()
    text = wording.format(n=number)
    events, messages = await run(
        status.ActionCheckStatus(), message(text, "check_status", LEFT_BEHIND)
    )
    assert not messages  # not looked up with the proof left behind
    slots = slots_of(events)
    assert slots["tracking_number"] == number and slots["status_proof"] is None


async def test_what_the_status_form_collected_is_still_used(store):
    number = await submitted()
    collected = {"tracking_number": number, "status_proof": SENIOR_ID[-4:]}
    tracker = message(SENIOR_ID[-4:], "inform", collected, latest_action="status_form")
    events, messages = await run(status.ActionCheckStatus(), tracker)
    assert number in messages[0]["text"] and forgotten(events)


@pytest.mark.parametrize("text", ["我要撤回申请", "那个申请我不想办了", "撤回"])
async def test_a_new_withdrawal_starts_clean(store, text):
    events, _ = await run(withdrawal.ActionOfferWithdrawal(), message(text, "cancel", LEFT_BEHIND))
    slots = slots_of(events)
    # Nothing submitted here: the number and the proof are asked, not taken from before.
    assert slots["withdrawal_offer"] == "form"
    assert slots["withdrawal_number"] is None and slots["withdrawal_proof"] is None
    assert slots["withdrawal_confirmed"] is None and slots["status_proof"] is None
