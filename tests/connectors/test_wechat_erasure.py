"""A resident who unfollows the Official Account is erased in the status store too: the
questions the inbox captured from their conversation go, another resident's stay (the
whole assistant with the WeChat channel, the real store)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from wechat_harness import WeChatStack, new_openid

from connectors.wechat.identity import conversation_id

DELIVERY_LIMIT_SECONDS = 30


def captured(stack: WeChatStack, openid: str) -> int:
    with sqlite3.connect(Path(stack.stack.folder) / "store.db") as db:
        return db.execute(
            "SELECT count(*) FROM inbox_items WHERE conversation_id = ?",
            (conversation_id(openid),),
        ).fetchone()[0]


def until_captured(stack: WeChatStack, openid: str, wanted: int) -> None:
    deadline = time.monotonic() + DELIVERY_LIMIT_SECONDS
    while (held := captured(stack, openid)) != wanted:
        assert time.monotonic() < deadline, f"the store holds {held} items, not {wanted}"
        time.sleep(0.2)


async def test_unsubscribe_erases_the_residents_questions_in_the_store(
    wechat_safe_mode: WeChatStack,
) -> None:
    stack, leaving, staying = wechat_safe_mode, new_openid(), new_openid()
    await stack.ask(leaving, "呜呜呜", 9301)
    await stack.ask(staying, "呜呜呜", 9302)
    until_captured(stack, leaving, 1)
    until_captured(stack, staying, 1)

    status, body = await stack.post(*stack.platform.event(leaving, "unsubscribe"))
    assert (status, body) == (200, "success")

    until_captured(stack, leaving, 0)
    assert captured(stack, staying) == 1
