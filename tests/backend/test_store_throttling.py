"""Wrong proofs are throttled per tracking number and per caller, across instances."""

from __future__ import annotations

import asyncio
import functools

import pytest
from aiohttp.test_utils import TestClient
from store_helpers import (
    ID_NUMBER,
    MAX_FAILURES,
    PHONE,
    PHONE_2,
    WINDOW_SECONDS,
    FakeClock,
    create,
    find,
    lookup,
    start_client,
    withdraw,
)

import backend.app
from backend.config import Settings
from backend.db import create_async_db_engine


async def fail(client: TestClient, number: str, times: int, conversation_id: str) -> None:
    for _ in range(times):
        response = await lookup(client, number, "0000", conversation_id=conversation_id)
        assert response.status == 404


@pytest.mark.asyncio
async def test_repeated_wrong_proofs_block_the_tracking_number(
    client: TestClient, clock: FakeClock
) -> None:
    number = (await create(client))["tracking_number"]
    # Different conversations, so that only the per-number limit applies.
    for index in range(MAX_FAILURES):
        await fail(client, number, 1, conversation_id=f"attacker-{index}")
    blocked = await lookup(client, number, "1234", conversation_id="the-applicant")
    assert blocked.status == 429
    body = await blocked.json()
    assert body["error"] == "too_many_attempts"
    assert 0 < body["retry_after"] <= WINDOW_SECONDS
    assert blocked.headers["Retry-After"] == str(body["retry_after"])

    clock.advance(WINDOW_SECONDS + 1)
    assert (await lookup(client, number, "1234", conversation_id="the-applicant")).status == 200


@pytest.mark.asyncio
async def test_unknown_numbers_are_throttled_like_known_ones(client: TestClient) -> None:
    known = (await create(client))["tracking_number"]
    unknown = known[:-4] + "0777"
    for number in (known, unknown):
        for index in range(MAX_FAILURES):
            await fail(client, number, 1, conversation_id=f"{number}-{index}")
        response = await lookup(client, number, "1234", conversation_id="fresh")
        assert response.status == 429


@pytest.mark.asyncio
async def test_repeated_wrong_proofs_block_the_caller(client: TestClient) -> None:
    numbers = [(await create(client, key=f"k{i}"))["tracking_number"] for i in range(2)]
    await fail(client, numbers[0], MAX_FAILURES - 1, conversation_id="guesser")
    await fail(client, numbers[1], 1, conversation_id="guesser")
    # Another number, correct proof: still refused for this caller...
    response = await lookup(client, numbers[1], "1234", conversation_id="guesser")
    assert response.status == 429
    # ...while other callers are unaffected.
    assert (await lookup(client, numbers[1], "1234", conversation_id="someone")).status == 200


@pytest.mark.asyncio
async def test_success_clears_the_failures_of_the_number(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    await fail(client, number, MAX_FAILURES - 1, conversation_id="typo-1")
    assert (await lookup(client, number, "1234", conversation_id="typo-2")).status == 200
    await fail(client, number, MAX_FAILURES - 1, conversation_id="typo-3")
    assert (await lookup(client, number, "1234", conversation_id="typo-4")).status == 200


@pytest.mark.asyncio
async def test_instances_share_the_failure_count(
    client: TestClient, settings: Settings, clock: FakeClock
) -> None:
    other_instance = await start_client(settings, clock)
    try:
        number = (await create(client))["tracking_number"]
        for index in range(MAX_FAILURES):
            instance = client if index % 2 else other_instance
            await fail(instance, number, 1, conversation_id=f"c{index}")
        for instance in (client, other_instance):
            assert (await lookup(instance, number, "1234", conversation_id="x")).status == 429
    finally:
        await other_instance.close()


@pytest.mark.asyncio
async def test_concurrent_guesses_cannot_exceed_the_limit(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    responses = await asyncio.gather(
        *(
            lookup(client, number, f"{index:04d}", conversation_id=f"c{index}")
            for index in range(12)
        )
    )
    statuses = sorted(response.status for response in responses)
    assert statuses.count(404) <= MAX_FAILURES
    assert set(statuses) <= {404, 429}


@pytest.mark.asyncio
async def test_throttled_requests_do_not_exhaust_a_small_pool(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short pool timeout turns a request waiting for a second connection while holding
    # the first into a quick failure instead of a 30-second stall.
    small_pool = functools.partial(
        create_async_db_engine, pool_size=2, max_overflow=0, pool_timeout=5
    )
    monkeypatch.setattr(backend.app, "create_async_db_engine", small_pool)
    client = await start_client(settings, clock)
    try:
        number = (await create(client))["tracking_number"]
        await fail(client, number, MAX_FAILURES, conversation_id="attacker")
        for index in range(MAX_FAILURES):
            response = await find(client, ID_NUMBER, PHONE_2, conversation_id=f"scan-{index}")
            assert response.status == 200
        *answers, health = await asyncio.gather(
            *(lookup(client, number, "0000", conversation_id=f"l{index}") for index in range(30)),
            *(withdraw(client, number, f"w{index}", proof="0000") for index in range(10)),
            *(find(client, ID_NUMBER, PHONE, conversation_id=f"f{index}") for index in range(10)),
            client.get("/health"),
        )
        assert {answer.status for answer in answers} <= {404, 429}
        assert health.status == 200
        assert (await client.get("/health")).status == 200
    finally:
        await client.close()
