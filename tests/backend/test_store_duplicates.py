"""A second application of one person and service while the first is open is accepted
like any other and flagged for staff: a refusal would tell whoever typed the ID number
that the person has applied (for 低保, that they are poor), and let anyone who knows a
person's ID number file first and lock the person out of applying online. Staff see the
flag (the earlier application's number); residents' answers never show it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import TextClause, text
from sqlalchemy.engine import Engine
from store_helpers import (
    ID_NUMBER,
    ID_NUMBER_2,
    MAX_FAILURES,
    PHONE,
    PHONE_2,
    SERVICE_HEADERS,
    STAFF_HEADERS,
    application_body,
    create,
    find,
    lookup,
    transition,
    withdraw,
)

from backend.store import Store
from scripts.id_numbers import resident_id_number

FLAG = "possible_duplicate_of"


async def post(client: TestClient, key: str, **overrides: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/applications",
        json=application_body(**overrides),
        headers={**SERVICE_HEADERS, "Idempotency-Key": key},
    )
    return response.status, await response.json()


async def staff_detail(client: TestClient, number: str) -> dict[str, Any]:
    response = await client.get(f"/staff/applications/{number}", headers=STAFF_HEADERS)
    assert response.status == 200, await response.text()
    return await response.json()


async def staff_list(client: TestClient) -> dict[str, str | None]:
    """Each application's flag as the staff search lists it."""
    response = await client.post("/staff/applications/search", json={}, headers=STAFF_HEADERS)
    assert response.status == 200, await response.text()
    return {item["tracking_number"]: item[FLAG] for item in (await response.json())["applications"]}


def count_applications(raw_db: Engine) -> int:
    with raw_db.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM applications")).scalar_one()


@pytest.mark.asyncio
async def test_a_duplicate_create_answers_exactly_like_a_first_one(
    client: TestClient, raw_db: Engine
) -> None:
    first_status, first = await post(client, "mother-1", conversation_id="daughter")
    # A relative (or a stranger) in another conversation, with another phone.
    status, second = await post(
        client, "son-1", conversation_id="wechat:son", phone=PHONE_2, channel="wechat"
    )
    assert (first_status, status) == (201, 201)
    assert set(second) == set(first)
    assert second["tracking_number"] != first["tracking_number"]
    assert (second["status"], second["replayed"]) == (first["status"], False)
    assert count_applications(raw_db) == 2


@pytest.mark.asyncio
async def test_staff_see_which_open_application_it_may_duplicate(client: TestClient) -> None:
    first = (await create(client, key="mother-1", conversation_id="daughter"))["tracking_number"]
    second = (await create(client, key="son-1", conversation_id="son", phone=PHONE_2))[
        "tracking_number"
    ]
    third = (await create(client, key="niece-1", conversation_id="niece"))["tracking_number"]
    assert (await staff_detail(client, first))[FLAG] is None
    assert (await staff_detail(client, second))[FLAG] == first
    # The oldest open one is named: it is the one the others repeat.
    assert (await staff_detail(client, third))[FLAG] == first
    assert await staff_list(client) == {first: None, second: first, third: first}


@pytest.mark.asyncio
async def test_residents_never_see_the_flag(client: TestClient) -> None:
    first = (await create(client, key="mother-1", conversation_id="daughter"))["tracking_number"]
    second = (await create(client, key="son-1", conversation_id="son"))["tracking_number"]
    answers = [
        await lookup(client, second, ID_NUMBER[-4:], conversation_id="son"),
        await find(client, ID_NUMBER, PHONE, conversation_id="son"),
        await client.get(
            "/applications", params={"conversation_id": "rest:son"}, headers=SERVICE_HEADERS
        ),
        await client.get(
            "/applications/by-key/son-1",
            params={"conversation_id": "rest:son"},
            headers=SERVICE_HEADERS,
        ),
    ]
    for response in answers:
        assert response.status == 200, await response.text()
        assert FLAG not in await response.text()
    # The son's own lookup of his application names nothing of his mother's.
    assert first not in await answers[0].text()
    assert first not in await answers[2].text()


@pytest.mark.asyncio
async def test_the_same_submission_sent_again_is_replayed(client: TestClient) -> None:
    first = await create(client, key="form-7")
    status, body = await post(client, "form-7")
    assert (status, body["tracking_number"], body["replayed"]) == (
        200,
        first["tracking_number"],
        True,
    )
    assert (await staff_detail(client, first["tracking_number"]))[FLAG] is None


@pytest.mark.asyncio
async def test_another_service_or_another_person_is_no_duplicate(client: TestClient) -> None:
    await create(client, key="card")
    relief = await create(client, key="relief", service_type="temporary_relief")
    neighbour = await create(client, key="card-neighbour", id_number=ID_NUMBER_2)
    for number in (relief["tracking_number"], neighbour["tracking_number"]):
        assert (await staff_detail(client, number))[FLAG] is None


# Every way out of the open statuses, and the ways through them (backend/lifecycle.py).
CLOSING_PATHS = {
    "withdrawn": [],
    "rejected": [("township_review", None), ("rejected", "不符合条件")],
    "approved": [("township_review", None), ("district_review", None), ("approved", None)],
}
OPEN_PATHS = {
    "submitted": [],
    "township_review": [("township_review", None)],
    "district_review": [("township_review", None), ("district_review", None)],
    "returned": [("township_review", None), ("returned", "缺户口本")],
}


async def move(client: TestClient, number: str, steps: list[tuple[str, str | None]]) -> None:
    for status, note in steps:
        assert (await transition(client, number, status, note=note)).status == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("closed", list(CLOSING_PATHS))
async def test_after_the_first_is_closed_a_new_one_is_not_flagged(
    client: TestClient, closed: str
) -> None:
    number = (await create(client, key="old"))["tracking_number"]
    if closed == "withdrawn":
        assert (await withdraw(client, number)).status == 200
    else:
        await move(client, number, CLOSING_PATHS[closed])
    again = (await create(client, key="new"))["tracking_number"]
    assert (await staff_detail(client, again))[FLAG] is None


@pytest.mark.asyncio
@pytest.mark.parametrize("still_open", list(OPEN_PATHS))
async def test_while_the_first_is_in_any_open_status_a_new_one_is_flagged(
    client: TestClient, still_open: str
) -> None:
    number = (await create(client, key="old"))["tracking_number"]
    await move(client, number, OPEN_PATHS[still_open])
    again = (await create(client, key="new"))["tracking_number"]
    assert (await staff_detail(client, again))[FLAG] == number


@pytest.mark.asyncio
async def test_concurrent_creates_for_one_person_are_all_accepted_and_all_but_one_flagged(
    client: TestClient,
) -> None:
    """The lookup runs behind the day's counter row, which creates take one at a time:
    each sees the ones committed before it, whichever way the race goes."""
    results = await asyncio.gather(
        *(post(client, f"family-{n}", conversation_id=f"relative-{n}") for n in range(6))
    )
    assert [status for status, _ in results] == [201] * 6
    flags = await staff_list(client)
    [oldest] = [number for number, flag in flags.items() if flag is None]
    assert list(flags.values()).count(oldest) == 5
    assert oldest == min(flags)


@pytest.mark.asyncio
async def test_filing_for_many_people_from_one_conversation_tells_nothing(
    client: TestClient,
) -> None:
    """Someone with a list of ID numbers: those with an open application and those
    without get the same answer, and no refusal counts against the conversation."""
    for person in range(MAX_FAILURES + 1):
        await create(
            client,
            key=f"family-{person}",
            id_number=resident_id_number(person),
            conversation_id=f"family-{person}",
        )
    answers = []
    for person in [*range(MAX_FAILURES + 1), *range(100, 100 + MAX_FAILURES + 1)]:
        status, body = await post(
            client,
            f"prober-{person}",
            id_number=resident_id_number(person),
            conversation_id="prober",
            phone=PHONE_2,
        )
        answers.append((status, tuple(sorted(body)), body["status"], body["replayed"]))
    assert len(set(answers)) == 1
    assert answers[0][0] == 201


def insert_row() -> TextClause:
    """A bare application row as any writer could insert it, bypassing the store."""
    return text(
        "INSERT INTO applications (tracking_number, service_type, applicant_name_enc,"
        " id_number_enc, id_number_hash, phone_enc, phone_hash, township, details_enc,"
        " channel, conversation_id, status, idempotency_key, request_fingerprint, created_at,"
        " status_changed_at) VALUES (:number, 'elderly_card', 'n', 'i', 'same-hash', 'p', 'h',"
        " '牛佛镇', 'd', 'rest', 'rest:c', 'submitted', :number, 'f', '2026-11-30 01:00:00',"
        " '2026-11-30 01:00:00')"
    )


def test_the_database_holds_two_open_applications_of_one_person(raw_db: Engine) -> None:
    with raw_db.begin() as connection:
        for number in ("DA202611300001", "DA202611300002"):
            connection.execute(insert_row(), {"number": number})
    assert count_applications(raw_db) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_same_submission_committed_between_the_stores_steps_is_replayed(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click on PostgreSQL: the other request commits just after this one looked
    for its key. That application is this submission's own: replayed, not a second one
    flagged as its duplicate. (SQLite has one writer: no such moment.)"""
    look_up_key = Store._by_idempotency_key
    armed, twin = [True], []

    async def the_other_click_commits_meanwhile(store: Store, *args: Any) -> Any:
        found = await look_up_key(store, *args)
        if armed:
            armed.clear()
            twin.append(await post(client, "double-click"))
        return found

    monkeypatch.setattr(Store, "_by_idempotency_key", the_other_click_commits_meanwhile)
    status, body = await post(client, "double-click")
    [(twin_status, twin_body)] = twin
    assert (twin_status, status) == (201, 200)
    assert (body["tracking_number"], body["replayed"]) == (twin_body["tracking_number"], True)
    assert await staff_list(client) == {body["tracking_number"]: None}
