"""The notification outbox on SQLite and PostgreSQL: notices are encrypted at rest,
leased to one worker at a time, given back when a lease passes, retried with a capped
backoff, kept waiting for a resident who cannot be reached, and dead at the end."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import (
    SERVICE_HEADERS,
    STAFF_HEADERS,
    FakeClock,
    assert_matches_schema,
    start_client,
)

from backend.config import Settings

RESIDENT = "wechat:oDaAnResident0000000000000001"
REPLY = "王秀英您好，您问的低保材料请带户口本到牛佛镇便民服务中心。"
BACKOFF_BASE = 10
BACKOFF_MAX = 25
MAX_ATTEMPTS = 4
DEFER = 3600
LEASE = 60


@pytest_asyncio.fixture
async def outbox(settings: Settings, clock: FakeClock, raw_db: Engine) -> AsyncIterator[TestClient]:
    with raw_db.begin() as connection:
        connection.execute(text("DELETE FROM notifications"))
    tuned = dataclasses.replace(
        settings,
        notice_max_attempts=MAX_ATTEMPTS,
        notice_max_age_days=2,
        notice_backoff_base_seconds=BACKOFF_BASE,
        notice_backoff_max_seconds=BACKOFF_MAX,
        notice_defer_seconds=DEFER,
    )
    client = await start_client(tuned, clock)
    yield client
    await client.close()


async def add(
    client: TestClient, conversation: str = RESIDENT, kind: str = "staff_reply", say: str = REPLY
) -> int:
    response = await client.post(
        "/staff/notifications",
        json={"conversation_id": conversation, "kind": kind, "text": say},
        headers=STAFF_HEADERS,
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    assert_matches_schema(body, "NotificationState")
    assert body["state"] == "pending"
    return body["id"]


async def claim(
    client: TestClient,
    worker: str = "rasa-a",
    channels: tuple[str, ...] = ("wechat",),
    **extra: Any,
) -> list[dict[str, Any]]:
    body = {"channels": list(channels), "worker_id": worker, "lease_seconds": LEASE, **extra}
    response = await client.post("/notifications/claim", json=body, headers=SERVICE_HEADERS)
    assert response.status == 200, await response.text()
    claimed = await response.json()
    assert_matches_schema(claimed, "ClaimedNotifications")
    return claimed["notifications"]


async def claimed_ids(client: TestClient, worker: str = "rasa-a", **extra: Any) -> list[int]:
    return [notice["id"] for notice in await claim(client, worker, **extra)]


async def report(
    client: TestClient, notice: int, outcome: str, worker: str = "rasa-a", **extra: Any
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        f"/notifications/{notice}/{outcome}",
        json={"worker_id": worker, **extra},
        headers=SERVICE_HEADERS,
    )
    return response.status, await response.json()


async def fail(client: TestClient, notice: int, **extra: Any) -> dict[str, Any]:
    status, body = await report(client, notice, "failed", error="channel_unavailable", **extra)
    assert status == 200, body
    assert_matches_schema(body, "NotificationState")
    return body


async def test_a_notice_is_claimed_with_its_text_and_stored_encrypted(
    outbox: TestClient, raw_db: Engine
) -> None:
    notice = await add(outbox)
    [claimed] = await claim(outbox)
    assert claimed["id"] == notice
    assert (claimed["conversation_id"], claimed["channel"], claimed["kind"]) == (
        RESIDENT,
        "wechat",
        "staff_reply",
    )
    assert claimed["text"] == REPLY
    with raw_db.connect() as connection:
        stored = connection.execute(text("SELECT text_enc FROM notifications")).scalar_one()
    assert "王秀英" not in stored and "牛佛镇" not in stored
    status, delivered = await report(outbox, notice, "delivered")
    assert status == 200
    assert delivered["state"] == "delivered" and delivered["delivered_at"] is not None
    assert await claim(outbox) == []


async def test_a_leased_notice_goes_to_no_other_worker_until_the_lease_passes(
    outbox: TestClient, clock: FakeClock
) -> None:
    notice = await add(outbox)
    assert await claimed_ids(outbox, "rasa-a") == [notice]
    assert await claimed_ids(outbox, "rasa-b") == []
    # Nor through the next-message claim of its conversation.
    assert await claimed_ids(outbox, "rasa-b", conversation_ids=[RESIDENT]) == []
    clock.advance(LEASE - 1)
    assert await claimed_ids(outbox, "rasa-b") == []
    # rasa-a died mid-delivery: its lease passes and the notice is delivered by rasa-b.
    clock.advance(2)
    assert await claimed_ids(outbox, "rasa-b") == [notice]
    # rasa-a cannot report a failure of a notice it no longer holds.
    status, body = await report(outbox, notice, "failed", "rasa-a", error="rejected")
    assert (status, body["error"]) == (409, "not_claimed")
    # A delivery is a delivery, whoever reports it (at least once).
    status, body = await report(outbox, notice, "delivered", "rasa-a")
    assert (status, body["state"]) == (200, "delivered")
    status, body = await report(outbox, notice, "failed", "rasa-b", error="rejected")
    assert (status, body["error"]) == (409, "not_claimed")


async def test_failures_back_off_exponentially_up_to_the_cap_then_the_notice_is_dead(
    outbox: TestClient, clock: FakeClock
) -> None:
    notice = await add(outbox)
    waits = []
    for attempt in range(1, MAX_ATTEMPTS):
        assert await claimed_ids(outbox) == [notice]
        state = await fail(outbox, notice)
        assert (state["state"], state["attempts"]) == ("pending", attempt)
        assert state["last_error"] == "channel_unavailable"
        wait = BACKOFF_BASE * 2 ** (attempt - 1)
        waits.append(min(wait, BACKOFF_MAX))
        clock.advance(min(wait, BACKOFF_MAX) - 1)
        assert await claimed_ids(outbox) == [], f"claimed early after attempt {attempt}"
        clock.advance(1)
    assert waits == [10, 20, 25]
    assert await claimed_ids(outbox) == [notice]
    state = await fail(outbox, notice)
    assert (state["state"], state["attempts"]) == ("dead", MAX_ATTEMPTS)
    clock.advance(BACKOFF_MAX * 10)
    assert await claimed_ids(outbox) == []
    assert await claimed_ids(outbox, conversation_ids=[RESIDENT]) == []


async def test_a_longer_retry_after_from_the_channel_is_kept(
    outbox: TestClient, clock: FakeClock
) -> None:
    notice = await add(outbox)
    await claimed_ids(outbox)
    await fail(outbox, notice, retry_after=300)
    clock.advance(299)
    assert await claimed_ids(outbox) == []
    clock.advance(1)
    assert await claimed_ids(outbox) == [notice]


async def test_a_resident_out_of_reach_is_waited_for_without_counting_attempts(
    outbox: TestClient, clock: FakeClock
) -> None:
    notice = await add(outbox)
    for _ in range(MAX_ATTEMPTS + 2):
        assert await claimed_ids(outbox) == [notice]
        status, state = await report(outbox, notice, "failed", error="window_closed")
        assert status == 200
        assert (state["state"], state["attempts"]) == ("pending", 0)
        clock.advance(DEFER - 1)
        assert await claimed_ids(outbox) == []
        clock.advance(1)
    # The resident writes again: their conversation's notices are claimed at once.
    await claimed_ids(outbox)
    await report(outbox, notice, "failed", error="window_closed")
    assert await claimed_ids(outbox, conversation_ids=[RESIDENT]) == [notice]


async def test_a_notice_nobody_could_deliver_for_days_is_dead(
    outbox: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    old = await add(outbox)
    clock.advance(86400)
    young = await add(outbox)
    clock.advance(86400)
    assert await claimed_ids(outbox, conversation_ids=[RESIDENT]) == [young]
    status, body = await report(outbox, old, "failed", error="rejected")
    assert (status, body["error"]) == (409, "not_claimed")
    # The background claim marks it dead.
    assert await claimed_ids(outbox, "rasa-b") == []
    with raw_db.connect() as connection:
        states = dict(connection.execute(text("SELECT id, state FROM notifications")).all())
    assert states == {old: "dead", young: "pending"}


async def test_a_look_up_for_another_conversation_leaves_the_notice_to_others(
    outbox: TestClient,
) -> None:
    notice = await add(outbox)
    assert await claimed_ids(outbox, conversation_ids=["rest:someone-else"]) == []
    assert await claimed_ids(outbox) == [notice]


async def test_claims_pick_their_channels_and_conversations_oldest_first(
    outbox: TestClient,
) -> None:
    first = await add(outbox)
    widget = await add(outbox, "socketio:0123456789abcdef0123456789abcdef", "status_change")
    other = await add(outbox, "wechat:oAnotherResident00000000000001")
    second = await add(outbox, kind="handoff")
    assert await claimed_ids(outbox, conversation_ids=[RESIDENT]) == [first, second]
    assert await claimed_ids(outbox, "rasa-b", channels=("rest", "socketio")) == [widget]
    assert await claimed_ids(outbox, "rasa-c", channels=("wechat",), limit=5) == [other]


async def test_concurrent_claimers_never_get_the_same_notice(outbox: TestClient) -> None:
    notices = [await add(outbox, say=f"第{i}条") for i in range(24)]
    batches = await asyncio.gather(*(claimed_ids(outbox, f"rasa-{i}", limit=5) for i in range(8)))
    claimed = [notice for batch in batches for notice in batch]
    assert len(claimed) == len(set(claimed))
    # Eight claims of five cover the 24 notices, unless one skipped rows another held.
    assert set(claimed) <= set(notices)
    assert len(claimed) >= 20


@pytest.mark.parametrize(
    "body",
    [
        {"channels": ["fax"], "worker_id": "rasa-a"},
        {"channels": [], "worker_id": "rasa-a"},
        {"channels": ["wechat"]},
        {"channels": ["wechat"], "worker_id": "rasa a"},
        {"channels": ["wechat"], "worker_id": "rasa-a", "limit": 0},
        {"channels": ["wechat"], "worker_id": "rasa-a", "lease_seconds": 601},
        {"channels": ["wechat"], "worker_id": "rasa-a", "conversation_ids": ["nobody"]},
        {"channels": ["wechat"], "worker_id": "rasa-a", "surprise": 1},
    ],
)
async def test_malformed_claims_are_refused(outbox: TestClient, body: dict[str, Any]) -> None:
    response = await outbox.post("/notifications/claim", json=body, headers=SERVICE_HEADERS)
    assert response.status == 400
    assert (await response.json())["error"] in ("invalid_field", "invalid_json")


@pytest.mark.parametrize(
    "body",
    [
        {"conversation_id": "fax:123", "kind": "staff_reply", "text": "您好"},
        {"conversation_id": RESIDENT, "kind": "gossip", "text": "您好"},
        {"conversation_id": RESIDENT, "kind": "staff_reply", "text": "  "},
        {"conversation_id": RESIDENT, "kind": "staff_reply", "text": "好" * 601},
    ],
)
async def test_malformed_notices_are_refused(outbox: TestClient, body: dict[str, Any]) -> None:
    response = await outbox.post("/staff/notifications", json=body, headers=STAFF_HEADERS)
    assert response.status == 400
    # What was sent is not repeated back.
    assert "好好" not in await response.text()


async def test_tokens_are_checked(outbox: TestClient) -> None:
    notice = {"conversation_id": RESIDENT, "kind": "staff_reply", "text": "您好"}
    response = await outbox.post("/staff/notifications", json=notice, headers=SERVICE_HEADERS)
    assert response.status == 401
    body = {"channels": ["wechat"], "worker_id": "rasa-a"}
    response = await outbox.post("/notifications/claim", json=body, headers=STAFF_HEADERS)
    assert response.status == 401
    status, body = await report(outbox, 999, "delivered")
    assert (status, body["error"]) == (404, "not_found")
