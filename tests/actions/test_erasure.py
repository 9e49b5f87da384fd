"""「删除我的聊天记录」: the action's events end with erase_conversation set (agreement 6),
which the tracker store reads to delete the conversation instead of saving it."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.erasure import ActionAnswerEraseRefusal, ActionEraseConversation
from tests.actions.domain_text import DOMAIN, rendered


async def test_erasure_ends_with_the_slot_the_tracker_store_reads_and_clears_personal_data():
    slots = {
        "applicant_name": "王秀英",
        "id_number": "510304195503120042",
        "phone": "13812345678",
        "lookup_id_number": "510304195503120042",
        "withdrawal_proof": "0042",
    }
    message = {"text": "确认删除聊天记录", "intent": {"name": "delete_conversation"}}
    tracker = Tracker("wechat:o-1", slots, message, [], False, None, None, "action_listen")
    dispatcher = CollectingDispatcher()
    events = await ActionEraseConversation().run(dispatcher, tracker, DOMAIN)

    assert events[-1] == {
        "event": "slot",
        "timestamp": None,
        "name": "erase_conversation",
        "value": True,
    }
    cleared = {e["name"]: e["value"] for e in events[:-1]}
    assert all(cleared[slot] is None for slot in slots)
    assert "已经删除" in rendered(dispatcher.messages)[0]


async def answer_at_the_confirmation(text: str) -> tuple[list[dict], list[str]]:
    message = {"text": text, "intent": {"name": "deny"}, "entities": []}
    tracker = Tracker("rest:r-1", {}, message, [], False, None, None, "action_listen")
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerEraseRefusal().run(dispatcher, tracker, DOMAIN)
    return events, [m["response"] for m in dispatcher.messages]


@pytest.mark.parametrize(
    "text", ["不要了 你们莫存我的信息", "不要了 都给我删了", "算了算了 我的资料别留着"]
)
async def test_a_no_that_asks_not_to_keep_anything_deletes(text):
    # Asked 「要删除……吗？」, 「不要了」 means "I do not want it kept", as the rest says.
    events, said = await answer_at_the_confirmation(text)
    assert said == ["utter_conversation_erased"]
    assert events[-1]["name"] == "erase_conversation" and events[-1]["value"] is True


@pytest.mark.parametrize("text", ["不删了", "不要", "不要删 我还要看", "算了 先留着"])
async def test_a_plain_no_keeps_the_conversation(text):
    events, said = await answer_at_the_confirmation(text)
    assert said == ["utter_erase_kept"] and not events
