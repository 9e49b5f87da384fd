"""Through the running assistant: a REST sender names only a REST conversation,
malformed requests are refused, residents cannot steer Rasa with commands, and odd
messages get kind answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from connectors.guard import MAX_MESSAGE_CHARS, guard_texts
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
    assert resident.say("   ") == guard_texts().empty
    assert resident.say("啊" * (MAX_MESSAGE_CHARS + 1)) == guard_texts().too_long
    assert resident.say("医保交费")  # the conversation goes on normally


def test_emoji_only_gets_an_answer(stack: Stack):
    resident = Resident(stack)
    assert resident.say("😀😀👍")


def test_a_sender_names_only_its_rest_conversation(stack: Stack):
    # A WeChat resident's OpenID used as a REST sender.
    resident = Resident(stack, sender="oDaAnResident0000000000000001")
    resident.say("你好")
    tracker = resident.tracker()
    assert tracker["sender_id"] == "rest:oDaAnResident0000000000000001"
    assert tracker["latest_input_channel"] == "rest"


def post_raw(stack: Stack, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook", data=body)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"", 400, "invalid_json"),
        (b"[]", 400, "body_must_be_an_object"),
        (json.dumps({"message": "你好"}).encode(), 400, "invalid_sender"),
        (json.dumps({"sender": "wechat:oDaAn", "message": "你好"}).encode(), 400, "invalid_sender"),
        (json.dumps({"sender": "r" * 65, "message": "你好"}).encode(), 400, "invalid_sender"),
        (json.dumps({"sender": "r1", "message": 5}).encode(), 400, "invalid_message"),
        (
            json.dumps({"sender": "r1", "message": "你好", "metadata": "x" * 10_000_000}).encode(),
            413,
            "body_too_large",
        ),
    ],
)
def test_malformed_requests_are_refused(stack: Stack, body: bytes, status: int, error: str):
    assert post_raw(stack, body) == (status, {"error": error})
