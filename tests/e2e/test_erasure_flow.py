"""A resident's erasure through the REST channel with the real stack: what the store's
inbox received of the conversation goes with it; another resident's stays. (The store's
own erasure of handoffs, notices and ratings is tested in tests/backend/test_erasure.py;
a request for a person is left out here: outside office hours the next message would be
kept for staff.)"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.e2e.rest import Resident
from tests.servers import Stack

DELIVERY_LIMIT_SECONDS = 30


def kept_by_store(stack: Stack, conversation_id: str) -> int:
    """The inbox items the store holds for the conversation."""
    with sqlite3.connect(Path(stack.folder) / "store.db") as db:
        return db.execute(
            "SELECT count(*) FROM inbox_items WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]


def until_store_holds(stack: Stack, conversation_id: str, wanted: int) -> None:
    deadline = time.monotonic() + DELIVERY_LIMIT_SECONDS
    while (held := kept_by_store(stack, conversation_id)) != wanted:
        assert time.monotonic() < deadline, f"the store holds {held}, not {wanted}"
        time.sleep(0.2)


def test_a_deleted_conversation_leaves_nothing_in_the_store(stack: Stack) -> None:
    leaving, staying = Resident(stack), Resident(stack)
    for resident in (leaving, staying):
        resident.say("呜呜呜")  # captured: the fallback
        resident.say("今天天气好不好")  # captured: a referral
        until_store_holds(stack, resident.conversation_id, 2)

    assert "删除后找不回来" in leaving.say("删除我的聊天记录")
    assert "已经删除" in leaving.say("确认删除聊天记录")

    until_store_holds(stack, leaving.conversation_id, 0)
    assert kept_by_store(stack, staying.conversation_id) == 2
