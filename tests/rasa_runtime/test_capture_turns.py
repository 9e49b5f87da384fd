"""Which turns become inbox items, with what, and when a did-you-mean is resolved: from
event sequences as a real tracker holds them (Rasa's event classes)."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import zip_longest
from typing import Any

import pytest
from rasa.shared.core.events import BotUttered, Event

from rasa_runtime.turns import (
    CLARIFY_LIFETIME_SECONDS,
    Capture,
    Item,
    Resolution,
    TurnWatcher,
    is_channel_conversation,
)
from tests.rasa_runtime.capture_turns import (
    ELIGIBILITY,
    ELIGIBILITY_TITLE,
    HANDOFF,
    MATERIALS,
    MATERIALS_TITLE,
    MODEL_ID,
    SENDER,
    answer_turn,
    clarify_turn,
    core_fallback_turn,
    fallback_turn,
    form_stopped_turn,
    handoff_turn,
    out_of_scope_turn,
    streamed,
)


def observe(watcher: TurnWatcher, events: Iterable[Event], sender: str = SENDER) -> list[Item]:
    return [item for event in streamed(list(events), sender) for item in watcher.observe(event)]


def only_capture(items: list[Item]) -> Capture:
    assert len(items) == 1 and isinstance(items[0], Capture), items
    return items[0]


@pytest.mark.parametrize(
    ("turn", "reason"),
    [
        (fallback_turn(), "fallback"),
        (core_fallback_turn(), "fallback"),
        (clarify_turn(), "clarified"),
        (out_of_scope_turn(), "out_of_scope"),
        (form_stopped_turn(), "form_stopped"),
        (handoff_turn(), "handoff"),
    ],
)
def test_each_turn_the_assistant_could_not_answer_is_one_item(
    turn: list[Event], reason: str
) -> None:
    capture = only_capture(observe(TurnWatcher(), turn))
    assert capture.reason == reason
    assert capture.text == turn[0].text
    assert capture.reply == "\n".join(e.text for e in turn if isinstance(e, BotUttered))


def test_an_answered_question_is_no_item() -> None:
    assert observe(TurnWatcher(), answer_turn("低保要带啥子材料")) == []


def test_the_item_holds_what_the_contract_asks_for() -> None:
    body = only_capture(observe(TurnWatcher(), fallback_turn("我家猫跑了咋个办"))).body()
    assert body["reason"] == "fallback"
    assert body["channel"] == "rest" and body["conversation_id"] == SENDER
    assert body["text"] == "我家猫跑了咋个办"
    assert body["reply"] == "不好意思，我没太听明白。能换个说法再问一次吗？"
    assert body["model"] == MODEL_ID
    assert body["intents"][:2] == [
        {"name": "nlu_fallback", "confidence": 0.38},
        {"name": "faq", "confidence": 0.21},
    ]
    # Both selectors' topics, best first.
    assert [topic["name"] for topic in body["topics"]] == [
        "out_of_scope/other",
        MATERIALS,
        ELIGIBILITY,
        "out_of_scope/vaccination",
        "faq/pension_benefit",
    ]
    assert body["occurred_at"].endswith("+08:00")
    assert len(body["capture_id"]) >= 8


def test_the_model_is_named_as_the_server_knows_it() -> None:
    watcher = TurnWatcher(model_name={MODEL_ID: "model-4c338e670a866c1f.tar.gz"}.get)
    assert only_capture(observe(watcher, fallback_turn())).model == "model-4c338e670a866c1f.tar.gz"


def test_the_township_named_in_the_conversation_goes_with_the_item() -> None:
    watcher = TurnWatcher()
    assert only_capture(observe(watcher, form_stopped_turn())).township == "牛佛镇"
    assert only_capture(observe(watcher, fallback_turn())).township == "牛佛镇"
    assert only_capture(observe(TurnWatcher(), fallback_turn())).township is None


def test_a_township_short_form_is_sent_by_its_full_name() -> None:
    events = form_stopped_turn()
    events[2].value = "牛佛"
    assert only_capture(observe(TurnWatcher(), events)).township == "牛佛镇"


def test_a_turn_ends_when_the_assistant_listens_again() -> None:
    watcher = TurnWatcher()
    turn = fallback_turn()
    assert observe(watcher, turn[:-1]) == []
    assert len(observe(watcher, turn[-1:])) == 1


def test_a_request_for_a_person_outranks_other_replies_of_its_turn() -> None:
    turn = handoff_turn()
    turn[-1:-1] = clarify_turn()[6:8]  # a clarify said in the same turn
    assert only_capture(observe(TurnWatcher(), turn)).reason == "handoff"


@pytest.mark.parametrize(
    "response",
    [
        "utter_handoff_queued",
        "utter_handoff_queued_next",
        "utter_handoff_leave_message",
        "utter_handoff_message_left",
        "utter_handoff_with_staff",
        "utter_handoff_unavailable",  # the store down: the inbox still hears of it
    ],
)
def test_every_answer_to_a_request_for_a_person_is_a_handoff_item(response: str) -> None:
    turn = handoff_turn(reply=(response, "……"))
    assert only_capture(observe(TurnWatcher(), turn)).reason == "handoff"


def test_a_stopped_form_handed_to_a_person_keeps_its_reason() -> None:
    turn = form_stopped_turn()
    assert "action_request_handoff" in [getattr(event, "action_name", None) for event in turn]
    assert only_capture(observe(TurnWatcher(), turn)).reason == "form_stopped"


def test_conversations_are_followed_apart() -> None:
    watcher = TurnWatcher()
    one = streamed(fallback_turn("甲的问题"), "rest:one")
    other = streamed(handoff_turn("乙要转人工"), "socketio:other")
    interleaved = [event for pair in zip_longest(one, other) for event in pair if event]
    items = [item for event in interleaved for item in watcher.observe(event)]
    by_conversation = {item.conversation_id: item for item in items}
    assert by_conversation["rest:one"].text == "甲的问题"
    assert by_conversation["socketio:other"].reason == "handoff"
    assert by_conversation["socketio:other"].channel == "socketio"


@pytest.mark.parametrize("sender", ["default", "rest:", "telegram:42", "rest:a\nb", "x" * 300])
def test_a_conversation_no_channel_named_is_not_captured(sender: str) -> None:
    assert not is_channel_conversation(sender)
    assert observe(TurnWatcher(), fallback_turn(), sender) == []


@pytest.mark.parametrize("sender", ["rest:a", "rest:client:a", "wechat:oAbC-123", "socketio:s1"])
def test_channel_conversations_are_captured(sender: str) -> None:
    assert is_channel_conversation(sender)


# Did-you-mean resolution.


def clarified_then(
    next_turn: list[Event], watcher: TurnWatcher | None = None
) -> tuple[Capture, list[Item]]:
    watcher = watcher or TurnWatcher()
    clarified = only_capture(observe(watcher, clarify_turn()))
    return clarified, observe(watcher, next_turn)


def test_pressing_a_button_resolves_the_did_you_mean_with_its_topic() -> None:
    clarified, items = clarified_then(
        answer_turn(ELIGIBILITY_TITLE, ELIGIBILITY, ELIGIBILITY_TITLE)
    )
    assert items == [Resolution(clarified.capture_id, ELIGIBILITY)]
    assert items[0].body() == {"label": ELIGIBILITY}


def test_typing_something_else_resolves_nothing() -> None:
    _, items = clarified_then(answer_turn("低保标准是好多", MATERIALS, MATERIALS_TITLE))
    assert items == []


def test_a_press_answered_with_another_topic_resolves_nothing() -> None:
    _, items = clarified_then(answer_turn(MATERIALS_TITLE, ELIGIBILITY, ELIGIBILITY_TITLE))
    assert items == []


def test_pressing_for_a_person_is_a_request_for_a_person_not_a_resolution() -> None:
    _, items = clarified_then(handoff_turn(HANDOFF))
    assert [type(item) for item in items] == [Capture]
    assert items[0].reason == "handoff"


def test_only_the_next_message_can_resolve() -> None:
    watcher = TurnWatcher()
    clarified_then(fallback_turn(), watcher)
    assert observe(watcher, answer_turn(MATERIALS_TITLE)) == []


def test_a_press_after_the_session_ended_resolves_nothing() -> None:
    now = [1000.0]
    watcher = TurnWatcher(clock=lambda: now[0])
    observe(watcher, clarify_turn())
    now[0] += CLARIFY_LIFETIME_SECONDS + 1
    assert observe(watcher, answer_turn(MATERIALS_TITLE)) == []


def test_a_press_that_is_clarified_again_resolves_nothing_and_is_captured() -> None:
    clarified, items = clarified_then(clarify_turn(MATERIALS_TITLE))
    assert len(items) == 1 and items[0].reason == "clarified"
    assert items[0].capture_id != clarified.capture_id


def test_the_resolution_is_written_before_a_new_item_of_the_same_turn() -> None:
    turn = answer_turn(MATERIALS_TITLE)
    turn[-1:-1] = handoff_turn()[1:3]
    _, items = clarified_then(turn)
    assert [type(item) for item in items] == [Resolution, Capture]


def test_limits_of_the_contract_are_kept() -> None:
    capture = only_capture(observe(TurnWatcher(), fallback_turn("问" * 3000)))
    body: dict[str, Any] = capture.body()
    assert len(body["text"]) == 2000
    assert all(0 <= guess["confidence"] <= 1 for guess in body["intents"] + body["topics"])
