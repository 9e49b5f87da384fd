"""Withdrawal by the resident: only before a decision, only by the applicant, throttled."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import (
    BACKOFF_BASE_SECONDS,
    MAX_FAILURES,
    PHONE,
    PHONE_2,
    SERVICE_HEADERS,
    STAFF_HEADERS,
    FakeClock,
    assert_matches_schema,
    create,
    lookup,
    transition,
    withdraw,
)

from backend.lifecycle import STATUS_LABELS
from backend.store import Store

# Each path leads from `submitted` to a status; notes are given where they are required.
BEFORE_DECISION = {
    "submitted": [],
    "township_review": [("township_review", None)],
    "district_review": [("township_review", None), ("district_review", None)],
    "returned": [("township_review", None), ("returned", "缺材料")],
}
DECIDED = {
    "approved": [("township_review", None), ("district_review", None), ("approved", None)],
    "ready_for_pickup": [
        ("township_review", None),
        ("district_review", None),
        ("approved", None),
        ("ready_for_pickup", None),
    ],
    "collected": [
        ("township_review", None),
        ("district_review", None),
        ("approved", None),
        ("ready_for_pickup", None),
        ("collected", None),
    ],
    "rejected": [("township_review", None), ("rejected", "不符合条件")],
}


async def application_in(
    client: TestClient, path: list[tuple[str, str | None]], key: str = "key-1"
) -> str:
    number = (await create(client, key=key))["tracking_number"]
    for status, note in path:
        response = await transition(client, number, status, note=note)
        assert response.status == 200, await response.text()
    return number


async def staff_history(client: TestClient, number: str) -> list[dict[str, object]]:
    response = await client.get(f"/staff/applications/{number}", headers=STAFF_HEADERS)
    return (await response.json())["history"]


async def fail(client: TestClient, number: str, times: int, conversation_id: str) -> None:
    for _ in range(times):
        response = await withdraw(client, number, conversation_id=conversation_id, proof="0000")
        assert response.status == 404


@pytest.mark.asyncio
@pytest.mark.parametrize("status", sorted(BEFORE_DECISION))
async def test_the_submitting_conversation_withdraws_before_a_decision(
    client: TestClient, status: str
) -> None:
    number = await application_in(client, BEFORE_DECISION[status])
    response = await withdraw(client, number, conversation_id="conv-1")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert_matches_schema(body, "ResidentDetail")
    assert (body["status"], body["status_label"]) == ("withdrawn", "已撤回")
    assert body["history"][-1]["status"] == "withdrawn"
    assert body["history"][-1]["note"] == "居民撤回"
    assert body["applicant"]["phone"] == "138****5678"

    last = (await staff_history(client, number))[-1]
    assert (last["from_status"], last["status"], last["actor"]) == (status, "withdrawn", "resident")
    assert (await (await lookup(client, number, "1234")).json())["status"] == "withdrawn"


@pytest.mark.asyncio
@pytest.mark.parametrize("status", sorted(DECIDED))
async def test_decided_applications_cannot_be_withdrawn(client: TestClient, status: str) -> None:
    number = await application_in(client, DECIDED[status])
    response = await withdraw(client, number)
    assert response.status == 409
    body = await response.json()
    assert_matches_schema(body, "Error")
    assert (body["error"], body["current_status"]) == ("not_withdrawable", status)
    assert body["current_status_label"] == STATUS_LABELS[status]
    assert (await staff_history(client, number))[-1]["status"] == status


@pytest.mark.asyncio
async def test_withdrawing_twice_says_it_already_is(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    assert (await withdraw(client, number)).status == 200
    response = await withdraw(client, number)
    assert response.status == 409
    body = await response.json()
    assert (body["error"], body["current_status"]) == ("not_withdrawable", "withdrawn")
    assert "已撤回" in body["message"]
    statuses = [entry["status"] for entry in await staff_history(client, number)]
    assert statuses == ["submitted", "withdrawn"]


@pytest.mark.asyncio
@pytest.mark.parametrize("proof", ["1234", PHONE, "+86 138-1234-5678"])
async def test_another_conversation_withdraws_with_proof(client: TestClient, proof: str) -> None:
    number = (await create(client))["tracking_number"]
    response = await withdraw(client, number, conversation_id="wechat-later", proof=proof)
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "withdrawn"


@pytest.mark.asyncio
async def test_the_submitting_conversation_needs_no_proof_even_a_correct_one(
    client: TestClient,
) -> None:
    number = (await create(client))["tracking_number"]
    response = await withdraw(client, number, conversation_id="conv-1", proof="1234")
    assert response.status == 200


@pytest.mark.asyncio
async def test_no_proof_wrong_proof_and_unknown_number_look_alike(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    answers = [
        await withdraw(client, number, conversation_id="stranger-1"),
        await withdraw(client, number, conversation_id="stranger-2", proof="9999"),
        await withdraw(client, number, conversation_id="stranger-3", proof=PHONE_2),
        await withdraw(client, number[:-4] + "0999", conversation_id="conv-1", proof="1234"),
    ]
    assert {response.status for response in answers} == {404}
    bodies = [await response.json() for response in answers]
    assert all(body == bodies[0] for body in bodies)
    assert (await staff_history(client, number))[-1]["status"] == "submitted"


@pytest.mark.asyncio
async def test_a_decision_is_only_revealed_to_the_applicant(client: TestClient) -> None:
    number = await application_in(client, DECIDED["rejected"])
    response = await withdraw(client, number, conversation_id="stranger", proof="9999")
    assert response.status == 404


@pytest.mark.asyncio
async def test_wrong_proofs_hold_back_others_but_not_the_submitting_conversation(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    number = (await create(client))["tracking_number"]
    for index in range(MAX_FAILURES):
        await fail(client, number, 1, conversation_id=f"attacker-{index}")
    with raw_db.connect() as connection:
        counted = connection.execute(
            text("SELECT count(*) FROM proof_failures WHERE scope = 'tracking' AND subject = :n"),
            {"n": number},
        ).scalar_one()
    assert counted == MAX_FAILURES

    blocked = await withdraw(client, number, conversation_id="elsewhere", proof="1234")
    assert blocked.status == 429
    body = await blocked.json()
    assert body["error"] == "too_many_attempts"
    assert body["retry_after"] == BACKOFF_BASE_SECONDS
    assert blocked.headers["Retry-After"] == str(body["retry_after"])
    # The same count as lookups: withdrawal is no way around their limit.
    assert (await lookup(client, number, "1234", conversation_id="elsewhere")).status == 429

    assert (await withdraw(client, number, conversation_id="conv-1")).status == 200


@pytest.mark.asyncio
async def test_failed_lookups_count_against_withdrawal(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    for index in range(MAX_FAILURES):
        response = await lookup(client, number, "0000", conversation_id=f"guess-{index}")
        assert response.status == 404
    assert (await withdraw(client, number, conversation_id="x", proof="1234")).status == 429


@pytest.mark.asyncio
async def test_wrong_proofs_block_the_caller(client: TestClient) -> None:
    numbers = [
        (await create(client, key=f"k{i}", service_type=service))["tracking_number"]
        for i, service in enumerate(("elderly_card", "temporary_relief"))
    ]
    await fail(client, numbers[0], MAX_FAILURES - 1, conversation_id="guesser")
    await fail(client, numbers[1], 1, conversation_id="guesser")
    response = await withdraw(client, numbers[1], conversation_id="guesser", proof="1234")
    assert response.status == 429
    response = await withdraw(client, numbers[1], conversation_id="someone", proof="1234")
    assert response.status == 200


@pytest.mark.asyncio
async def test_a_withdrawal_leaves_the_failures_of_others_counted(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    await fail(client, number, MAX_FAILURES - 1, conversation_id="typo-1")
    assert (await withdraw(client, number, conversation_id="conv-1")).status == 200
    await fail(client, number, 1, conversation_id="typo-2")
    # Only the success's own attempt was removed: the limit is reached.
    assert (await withdraw(client, number, conversation_id="typo-3", proof="1234")).status == 429


@pytest.mark.asyncio
async def test_concurrent_withdrawals_withdraw_once(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    # Attempts in progress count as failures until they succeed, so more at once than
    # the limit would be throttled.
    responses = await asyncio.gather(*(withdraw(client, number) for _ in range(MAX_FAILURES)))
    assert sorted(response.status for response in responses) == [200] + [409] * (MAX_FAILURES - 1)
    for response in responses:
        if response.status == 409:
            assert (await response.json())["current_status"] == "withdrawn"
    statuses = [entry["status"] for entry in await staff_history(client, number)]
    assert statuses == ["submitted", "withdrawn"]


@pytest.mark.asyncio
async def test_withdrawal_racing_a_decision_is_one_or_the_other(client: TestClient) -> None:
    for index in range(5):
        number = await application_in(client, BEFORE_DECISION["district_review"], key=f"k{index}")
        withdrawn, approved = await asyncio.gather(
            withdraw(client, number), transition(client, number, "approved")
        )
        assert sorted((withdrawn.status, approved.status)) == [200, 409], index
        history = await staff_history(client, number)
        winner = "withdrawn" if withdrawn.status == 200 else "approved"
        assert [entry["status"] for entry in history[-2:]] == ["district_review", winner]
        if withdrawn.status == 409:
            assert (await withdrawn.json())["current_status"] == "approved"


@pytest.mark.asyncio
@pytest.mark.parametrize(("meanwhile", "answer"), [("returned", 200), ("approved", 409)])
async def test_a_lost_race_is_decided_by_the_status_it_lost_to(
    client: TestClient,
    raw_db: Engine,
    monkeypatch: pytest.MonkeyPatch,
    meanwhile: str,
    answer: int,
) -> None:
    number = await application_in(client, BEFORE_DECISION["district_review"])
    change_status = Store._change_status

    async def staff_acts_first(store: Store, *args: object) -> bool:
        monkeypatch.setattr(Store, "_change_status", change_status)
        with raw_db.begin() as connection:
            connection.execute(
                text("UPDATE applications SET status = :status WHERE tracking_number = :number"),
                {"status": meanwhile, "number": number},
            )
        return await change_status(store, *args)

    monkeypatch.setattr(Store, "_change_status", staff_acts_first)
    response = await withdraw(client, number)
    assert response.status == answer
    last = (await staff_history(client, number))[-1]
    if answer == 200:
        assert (last["from_status"], last["status"]) == (meanwhile, "withdrawn")
    else:
        assert (await response.json())["current_status"] == meanwhile
        assert last["status"] == "district_review"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("DA2026", {"conversation_id": "rest:conv-1"}, "invalid_tracking_number"),
        (None, {}, "invalid_field"),
        (None, {"conversation_id": "  "}, "invalid_field"),
        (None, {"conversation_id": "rest:conv-1", "proof": "12"}, "invalid_proof"),
        (None, {"conversation_id": "rest:conv-1", "reason": "x"}, "invalid_field"),
        (None, ["conv-1"], "invalid_json"),
    ],
)
async def test_malformed_withdrawals_are_refused(
    client: TestClient, path: str | None, body: object, code: str
) -> None:
    number = path or (await create(client))["tracking_number"]
    response = await client.post(
        f"/applications/{number}/withdraw", json=body, headers=SERVICE_HEADERS
    )
    assert response.status == 400
    assert (await response.json())["error"] == code


@pytest.mark.asyncio
async def test_typed_tracking_numbers_are_accepted(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    response = await withdraw(client, f"da-{number[2:10]}-{number[10:]}".lower())
    assert response.status == 200
    assert (await response.json())["tracking_number"] == number


@pytest.mark.asyncio
@pytest.mark.parametrize("headers", [{}, STAFF_HEADERS])
async def test_withdrawal_needs_the_service_token(
    client: TestClient, headers: dict[str, str]
) -> None:
    number = (await create(client))["tracking_number"]
    response = await client.post(
        f"/applications/{number}/withdraw", json={"conversation_id": "rest:conv-1"}, headers=headers
    )
    assert response.status == 401
