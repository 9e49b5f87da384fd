"""Proof throttling (backend/throttling.py): per conversation, per number with backoff,
never against the submitting conversation, shared by every instance, deadlock-free."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient
from store_helpers import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
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

from backend.config import Settings
from scripts.id_numbers import resident_id_number


async def fail(
    client: TestClient, number: str, times: int, conversation_id: str, proof: str = "0000"
) -> None:
    for _ in range(times):
        response = await lookup(client, number, proof, conversation_id=conversation_id)
        assert response.status == 404


async def retry_after(client: TestClient, number: str, conversation_id: str) -> int:
    """The wait a lookup with the right proof is told, asserting that it is refused."""
    response = await lookup(client, number, "1234", conversation_id=conversation_id)
    assert response.status == 429
    body = await response.json()
    assert body["error"] == "too_many_attempts"
    assert response.headers["Retry-After"] == str(body["retry_after"])
    return body["retry_after"]


async def attack(client: TestClient, clock: FakeClock, number: str, failures: int) -> None:
    """`failures` wrong proofs from fresh conversations, each waiting out the backoff."""
    for index in range(failures):
        response = await lookup(client, number, "0000", conversation_id=f"attacker-{index}")
        if response.status == 429:
            clock.advance((await response.json())["retry_after"])
            response = await lookup(client, number, "0000", conversation_id=f"attacker-{index}")
        assert response.status == 404


@pytest.mark.asyncio
async def test_failures_on_a_number_make_others_wait_longer_each_time_up_to_a_cap(
    client: TestClient, clock: FakeClock
) -> None:
    number = (await create(client))["tracking_number"]
    for index in range(MAX_FAILURES):
        await fail(client, number, 1, conversation_id=f"attacker-{index}")
    waits = []
    for index in range(7):
        waits.append(await retry_after(client, number, conversation_id="someone-else"))
        clock.advance(waits[-1])
        await fail(client, number, 1, conversation_id=f"late-attacker-{index}")
    # BACKOFF_BASE_SECONDS = 2, doubled per further failure, capped at 60.
    assert waits == [2, 4, 8, 16, 32, 60, 60]
    assert (BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS) == (2, 60)


@pytest.mark.asyncio
async def test_the_number_is_never_locked(client: TestClient, clock: FakeClock) -> None:
    number = (await create(client))["tracking_number"]
    await attack(client, clock, number, 50)
    assert await retry_after(client, number, conversation_id="owner-new-phone") <= (
        BACKOFF_MAX_SECONDS
    )
    clock.advance(BACKOFF_MAX_SECONDS)
    assert (await lookup(client, number, "1234", conversation_id="owner-new-phone")).status == 200


@pytest.mark.asyncio
async def test_an_attacker_failing_50_times_does_not_stop_the_owner(
    client: TestClient, clock: FakeClock
) -> None:
    own = {"channel": "wechat", "conversation_id": "wechat:owner-openid"}
    number = (await create(client, **own))["tracking_number"]
    await attack(client, clock, number, 50)
    # Right now the number makes anyone else wait...
    assert await retry_after(client, number, conversation_id="bystander") > 0
    # ...but not its own conversation, with the right proof, nor its withdrawal.
    own = await lookup(client, number, "1234", conversation_id="wechat:owner-openid")
    assert own.status == 200
    own_phone = await lookup(client, number, PHONE, conversation_id="wechat:owner-openid")
    assert own_phone.status == 200
    withdrawn = await withdraw(client, number, conversation_id="wechat:owner-openid")
    assert withdrawn.status == 200


@pytest.mark.asyncio
async def test_the_owner_with_a_wrong_proof_is_refused(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    response = await lookup(client, number, "0000", conversation_id="conv-1")
    assert response.status == 404


@pytest.mark.asyncio
async def test_the_owner_is_held_back_by_its_own_failures(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    await fail(client, number, MAX_FAILURES, conversation_id="conv-1")
    assert (await lookup(client, number, "1234", conversation_id="conv-1")).status == 429


@pytest.mark.asyncio
async def test_failures_decay_after_the_window(client: TestClient, clock: FakeClock) -> None:
    number = (await create(client))["tracking_number"]
    await attack(client, clock, number, 10)
    clock.advance(WINDOW_SECONDS + 1)
    assert (await lookup(client, number, "1234", conversation_id="fresh")).status == 200


@pytest.mark.asyncio
async def test_the_proof_is_the_last_four_characters(client: TestClient, clock: FakeClock) -> None:
    # ID_NUMBER ends in 1234: a check on the last three would let 0234 and 9234 in.
    number = (await create(client))["tracking_number"]
    for near_miss in ("0234", "9234", "1230", "2234"):
        clock.advance(BACKOFF_MAX_SECONDS)  # past any backoff of the earlier misses
        response = await lookup(client, number, near_miss, conversation_id=f"c-{near_miss}")
        assert response.status == 404, near_miss
    assert (await lookup(client, number, "234", conversation_id="short")).status == 400
    clock.advance(BACKOFF_MAX_SECONDS)
    assert (await lookup(client, number, "1234", conversation_id="right")).status == 200


@pytest.mark.asyncio
async def test_unknown_numbers_are_throttled_like_known_ones(client: TestClient) -> None:
    known = (await create(client))["tracking_number"]
    unknown = known[:-4] + "0777"
    # Each with its own wrong proof: a proof's failures on one number count on the other.
    for number, wrong in ((known, "0000"), (unknown, "1111")):
        for index in range(MAX_FAILURES):
            await fail(client, number, 1, conversation_id=f"{number}-{index}", proof=wrong)
        assert await retry_after(client, number, conversation_id="fresh") == BACKOFF_BASE_SECONDS


@pytest.mark.asyncio
async def test_repeated_wrong_proofs_block_the_caller(client: TestClient) -> None:
    numbers = [
        (await create(client, key=f"k{i}", service_type=service))["tracking_number"]
        for i, service in enumerate(("elderly_card", "temporary_relief"))
    ]
    await fail(client, numbers[0], MAX_FAILURES - 1, conversation_id="guesser")
    await fail(client, numbers[1], 1, conversation_id="guesser")
    # Another number, correct proof: still refused for this caller...
    assert 0 < await retry_after(client, numbers[1], conversation_id="guesser") <= WINDOW_SECONDS
    # ...while other callers are unaffected.
    assert (await lookup(client, numbers[1], "1234", conversation_id="someone")).status == 200


@pytest.mark.asyncio
async def test_a_success_removes_only_its_own_attempt(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    await fail(client, number, MAX_FAILURES - 1, conversation_id="typo-1")
    assert (await lookup(client, number, "1234", conversation_id="typo-2")).status == 200
    await fail(client, number, 1, conversation_id="typo-3")
    assert await retry_after(client, number, conversation_id="typo-4") == BACKOFF_BASE_SECONDS


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
            assert await retry_after(instance, number, conversation_id="x") > 0
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
async def test_a_burst_on_a_throttled_number_leaves_the_store_answering(
    settings: Settings, clock: FakeClock
) -> None:
    # Finding 5: 30 concurrent lookups on a throttled number gave 500s and stalled the
    # store (/health 503) while requests held one pooled connection and waited for
    # another. The pool is the store's own (one connection for SQLite, five for
    # PostgreSQL): any request path that nests sessions deadlocks it and answers 503
    # after the timeout, which is long here so that a slow machine is not mistaken for it.
    client = await start_client(replace(settings, db_timeout_seconds=30), clock)
    try:
        await burst(client)
    finally:
        await client.close()


async def burst(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    await fail(client, number, MAX_FAILURES, conversation_id="attacker")
    for index in range(MAX_FAILURES):
        response = await find(client, ID_NUMBER, PHONE_2, conversation_id=f"scan-{index}")
        assert response.status == 200
    burst = [
        *(lookup(client, number, "0000", conversation_id=f"l{index}") for index in range(30)),
        *(withdraw(client, number, f"w{index}", proof="0000") for index in range(10)),
        *(find(client, ID_NUMBER, PHONE, conversation_id=f"f{index}") for index in range(10)),
    ]
    health = asyncio.ensure_future(client.get("/health"))
    answers = await asyncio.gather(*burst)
    assert {answer.status for answer in answers} <= {404, 429}
    assert (await health).status == 200
    assert (await client.get("/health")).status == 200
    # The owner still gets through after the burst.
    assert (await lookup(client, number, "1234", conversation_id="conv-1")).status == 200


@pytest.mark.asyncio
async def test_a_known_phone_cannot_be_tried_on_every_number(
    client: TestClient, clock: FakeClock
) -> None:
    # Tracking numbers are sequential and a fresh widget session costs nothing: someone
    # who knows a resident's phone tried it once on each number, from a new conversation
    # each time, and found (and could withdraw) that resident's applications.
    victim = (await create(client))["tracking_number"]
    others = [
        (
            await create(
                client, key=f"other-{index}", phone=PHONE_2, id_number=resident_id_number(index)
            )
        )["tracking_number"]
        for index in range(MAX_FAILURES)
    ]
    for index, number in enumerate(others):
        response = await lookup(client, number, PHONE, conversation_id=f"prober-{index}")
        assert response.status == 404
    response = await lookup(client, victim, PHONE, conversation_id="prober-next")
    assert response.status == 429
    # The victim, from the conversation that submitted it, is not held back.
    response = await lookup(client, victim, PHONE, conversation_id="rest:conv-1")
    assert response.status == 200
    # Another proof is not held back by the failures of this one.
    response = await lookup(client, others[0], PHONE_2, conversation_id="prober-other")
    assert response.status == 200
