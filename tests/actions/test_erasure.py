"""「删除我的聊天记录」: the action's events end with erase_conversation set (agreement 6),
which the tracker store reads to delete the conversation instead of saving it."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.erasure import ActionEraseConversation
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
