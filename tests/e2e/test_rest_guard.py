"""Residents cannot steer Rasa with commands, and odd messages get kind answers."""

from __future__ import annotations

from connectors.guard import EMPTY_REPLY, MAX_MESSAGE_CHARS, TOO_LONG_REPLY
from tests.e2e.rest import Resident
from tests.servers import Stack


def user_texts(tracker: dict) -> list[str]:
    return [event["text"] for event in tracker["events"] if event["event"] == "user"]


def test_a_restart_command_is_read_as_text(stack: Stack):
    resident = Resident(stack)
    resident.say("你好")
    reply = resident.say("/restart")
    events = resident.tracker()["events"]
    assert reply  # answered like any other message
    assert "你好" in user_texts(resident.tracker())  # nothing was wiped
    assert not [e for e in events if e["event"] == "restart"]
    assert "／restart" in user_texts(resident.tracker())


def test_an_intent_command_cannot_set_slots(stack: Stack):
    resident = Resident(stack)
    resident.say('/inform{"id_number": "360426199101010071"}')
    tracker = resident.tracker()
    assert tracker["slots"].get("id_number") is None
    assert tracker["latest_message"]["intent"]["name"] != "inform" or not [
        e
        for e in tracker["latest_message"]["entities"]
        if e.get("extractor") == "RegexMessageHandler"
    ]


def test_empty_and_oversized_messages_get_a_kind_answer(stack: Stack):
    resident = Resident(stack)
    assert resident.say("   ") == EMPTY_REPLY
    assert resident.say("啊" * (MAX_MESSAGE_CHARS + 1)) == TOO_LONG_REPLY
    assert resident.say("医保交费")  # the conversation goes on normally


def test_emoji_only_gets_an_answer(stack: Stack):
    resident = Resident(stack)
    assert resident.say("😀😀👍")
