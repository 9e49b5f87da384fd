"""End to end through the REST channel with the real stack: a question the assistant
cannot answer becomes an item in the store's inbox, and a did-you-mean whose button the
resident presses is resolved there."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.rest import Resident
from tests.servers import ROOT, Stack

DELIVERY_LIMIT_SECONDS = 30


def response_text(name: str) -> str:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return domain["responses"][name][0]["text"]


def items_of(stack: Stack, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's inbox items in the store's database, once delivered."""
    deadline = time.monotonic() + DELIVERY_LIMIT_SECONDS
    while True:
        with sqlite3.connect(Path(stack.folder) / "store.db") as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT * FROM inbox_items WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        if rows or time.monotonic() > deadline:
            return [dict(row) for row in rows]
        time.sleep(0.2)


def test_a_message_the_assistant_cannot_answer_becomes_an_inbox_item(
    stack: Stack, model_path: Path
) -> None:
    resident = Resident(stack)
    assert resident.say("呜呜呜") == response_text("utter_default")
    [item] = items_of(stack, resident.conversation_id)
    assert item["reason"] == "fallback"
    assert item["channel"] == "rest"
    # The model file staff find in bot/models, not Rasa's id for it.
    assert item["model"] == model_path.name
    assert "呜呜呜" not in item["text_enc"]  # stored encrypted by the store


def test_an_answered_question_is_not_captured(stack: Stack) -> None:
    resident = Resident(stack)
    resident.say("低保要带啥子材料")
    resident.say("呜呜呜")  # captured after the answer: the answer's turn was looked at
    assert [item["reason"] for item in items_of(stack, resident.conversation_id)] == ["fallback"]


def test_a_referral_and_a_request_for_a_person_are_captured(stack: Stack) -> None:
    resident = Resident(stack)
    resident.say("今天天气好不好")
    resident.say("转人工")
    deadline = time.monotonic() + DELIVERY_LIMIT_SECONDS
    while len(reasons := [i["reason"] for i in items_of(stack, resident.conversation_id)]) < 2:
        assert time.monotonic() < deadline, reasons
        time.sleep(0.2)
    assert reasons == ["out_of_scope", "handoff"]


def test_a_did_you_mean_pressed_is_resolved_in_the_store(stack: Stack) -> None:
    resident = Resident(stack)
    resident.say("补贴")
    topics = [button["payload"] for button in resident.buttons if button["payload"] != "转人工"]
    assert topics, "no did-you-mean for this question any more: pick another"
    [item] = items_of(stack, resident.conversation_id)
    assert item["reason"] == "clarified"
    resident.say("1")  # the first button, by number
    deadline = time.monotonic() + DELIVERY_LIMIT_SECONDS
    while items_of(stack, resident.conversation_id)[0]["resolved_label"] is None:
        assert time.monotonic() < deadline, "the press was not resolved"
        time.sleep(0.2)
    assert items_of(stack, resident.conversation_id)[0]["resolved_label"].startswith("faq/")
