"""「删除我的聊天记录」 reaches the store: what it keeps of the conversation goes."""

from __future__ import annotations

from datetime import datetime

from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import SERVICE_HEADERS, FakeClock, capture_body, create, transition

from backend.tracking import CHINA_TZ

TUESDAY = datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ)


async def post(client: TestClient, path: str, body: dict) -> dict:
    response = await client.post(path, json=body, headers=SERVICE_HEADERS)
    assert response.status in (200, 201), await response.text()
    return await response.json()


def count(raw_db: Engine, table: str, where: str = "1=1") -> int:
    with raw_db.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar()


async def test_erasing_a_conversation_removes_what_the_store_keeps_of_it(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    clock.now = TUESDAY
    mine, other = "rest:conv-1", "rest:default:someone-else"
    await post(client, "/inbox/items", capture_body("我的问题", conversation_id=mine))
    await post(client, "/inbox/items", capture_body("低保咋个申请", conversation_id=mine))
    await post(client, "/inbox/items", capture_body("低保咋个申请嘛", conversation_id=other))
    await post(client, "/handoffs", {"conversation_id": mine, "reason": "asked"})
    number = (await create(client))["tracking_number"]  # from rest:conv-1
    for status in ("township_review", "district_review", "approved"):
        await transition(client, number, status)
    await post(client, "/handoffs/route", {"conversation_id": mine, "text": "满意 很好 谢谢王姐"})
    erased = await post(client, "/conversations/erase", {"conversation_id": mine})
    assert erased == {"questions": 2, "handoffs": 1, "notices": 4, "ratings": 1}
    assert count(raw_db, "inbox_items") == 1  # the other resident's
    assert count(raw_db, "inbox_groups") == 1  # "我的问题"'s group went with it
    assert count(raw_db, "handoffs") == 0
    assert count(raw_db, "notifications", "conversation_id = 'rest:conv-1'") == 0
    with raw_db.connect() as connection:
        rating = connection.execute(
            text("SELECT conversation_id, level, comment_enc FROM ratings")
        ).one()
    assert tuple(rating) == ("rest:erased", "satisfied", None)
    assert count(raw_db, "applications") == 1  # records rules, not erasure
    again = await post(client, "/conversations/erase", {"conversation_id": mine})
    assert again == {"questions": 0, "handoffs": 0, "notices": 0, "ratings": 0}


async def test_erasure_needs_the_service_token(client: TestClient) -> None:
    response = await client.post("/conversations/erase", json={"conversation_id": "rest:x"})
    assert response.status == 401
