"""One open application per person and service: a second create for the same ID number
and service while the first is still open is refused with 409, without revealing the
other application; the replay of the same submission still returns it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import TextClause, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from store_helpers import (
    ID_NUMBER,
    ID_NUMBER_2,
    MAX_FAILURES,
    NAME,
    PHONE,
    PHONE_2,
    SERVICE_HEADERS,
    WINDOW_SECONDS,
    FakeClock,
    application_body,
    create,
    lookup,
    transition,
    withdraw,
)

from backend.config import Settings
from backend.crypto import FieldCipher
from backend.store import Store
from scripts.id_numbers import resident_id_number

DUPLICATE = "duplicate_open_application"


async def post(client: TestClient, key: str, **overrides: Any) -> tuple[int, dict[str, Any], str]:
    response = await client.post(
        "/applications",
        json=application_body(**overrides),
        headers={**SERVICE_HEADERS, "Idempotency-Key": key},
    )
    raw = await response.text()
    return response.status, await response.json(), raw


def count_applications(raw_db: Engine) -> int:
    with raw_db.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM applications")).scalar_one()


@pytest.mark.asyncio
async def test_a_second_open_application_is_refused_without_revealing_the_first(
    client: TestClient, raw_db: Engine
) -> None:
    first = await create(client, key="mother-1", conversation_id="daughter")
    # A relative in another conversation, with another phone and spelling of the place.
    status, body, raw = await post(
        client, "son-1", conversation_id="wechat:son", phone=PHONE_2, channel="wechat"
    )
    assert status == 409
    assert body["error"] == DUPLICATE
    assert set(body) == {"error", "message"}
    for secret in (first["tracking_number"], first["tracking_number"][2:], ID_NUMBER, "1234"):
        assert secret not in raw
    for secret in (NAME, PHONE, PHONE_2, "王*英", "138****5678"):
        assert secret not in raw
    assert count_applications(raw_db) == 1


@pytest.mark.asyncio
async def test_the_same_submission_sent_again_is_replayed_not_refused(client: TestClient) -> None:
    first = await create(client, key="form-7")
    status, body, _ = await post(client, "form-7")
    assert status == 200
    assert body["tracking_number"] == first["tracking_number"]
    assert body["replayed"] is True
    response = await client.get(
        "/applications/by-key/form-7",
        params={"conversation_id": "rest:conv-1"},
        headers=SERVICE_HEADERS,
    )
    assert response.status == 200
    assert (await response.json())["tracking_number"] == first["tracking_number"]


@pytest.mark.asyncio
async def test_a_refused_duplicate_leaves_no_key_behind(client: TestClient) -> None:
    await create(client, key="first")
    assert (await post(client, "second"))[0] == 409
    response = await client.get(
        "/applications/by-key/second",
        params={"conversation_id": "rest:conv-1"},
        headers=SERVICE_HEADERS,
    )
    assert response.status == 404


@pytest.mark.asyncio
async def test_another_service_or_another_person_is_no_duplicate(client: TestClient) -> None:
    await create(client, key="card")
    await create(client, key="relief", service_type="temporary_relief")
    await create(client, key="card-neighbour", id_number=ID_NUMBER_2)
    status, body, _ = await post(client, "relief-again", service_type="temporary_relief")
    assert (status, body["error"]) == (409, DUPLICATE)


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
async def test_once_the_first_is_closed_a_new_application_is_accepted(
    client: TestClient, closed: str
) -> None:
    number = (await create(client, key="old"))["tracking_number"]
    if closed == "withdrawn":
        assert (await withdraw(client, number)).status == 200
    else:
        await move(client, number, CLOSING_PATHS[closed])
    again = await create(client, key="new")
    assert again["tracking_number"] != number


@pytest.mark.asyncio
@pytest.mark.parametrize("still_open", list(OPEN_PATHS))
async def test_while_the_first_is_in_any_open_status_it_is_refused(
    client: TestClient, still_open: str
) -> None:
    number = (await create(client, key="old"))["tracking_number"]
    await move(client, number, OPEN_PATHS[still_open])
    status, body, _ = await post(client, "new")
    assert (status, body["error"]) == (409, DUPLICATE)


@pytest.mark.asyncio
async def test_concurrent_creates_for_one_person_create_exactly_one(
    client: TestClient, raw_db: Engine
) -> None:
    results = await asyncio.gather(
        *(post(client, f"family-{n}", conversation_id=f"relative-{n}") for n in range(6))
    )
    assert sorted(status for status, _, _ in results) == [201] + [409] * 5
    assert {body.get("error") for status, body, _ in results if status == 409} == {DUPLICATE}
    assert count_applications(raw_db) == 1


def insert_row() -> TextClause:
    """A bare application row as any writer could insert it, bypassing the store."""
    return text(
        "INSERT INTO applications (tracking_number, service_type, applicant_name_enc,"
        " id_number_enc, id_number_hash, phone_enc, phone_hash, township, details_enc,"
        " channel, conversation_id, status, idempotency_key, request_fingerprint, created_at,"
        " status_changed_at) VALUES (:number, 'elderly_card', 'n', 'i', :hash, 'p', 'h',"
        " '牛佛镇', 'd', 'rest', 'rest:c', :status, :number, 'f', '2026-11-30 01:00:00',"
        " '2026-11-30 01:00:00')"
    )


def test_the_database_itself_refuses_a_second_open_row(raw_db: Engine) -> None:
    """The rule holds below the store's own check too: any writer, any race."""
    row = {"hash": "same-hash"}
    with raw_db.begin() as connection:
        connection.execute(insert_row(), {**row, "number": "DA202611300001", "status": "withdrawn"})
        connection.execute(insert_row(), {**row, "number": "DA202611300002", "status": "returned"})
    with pytest.raises(IntegrityError), raw_db.begin() as connection:
        connection.execute(insert_row(), {**row, "number": "DA202611300003", "status": "submitted"})


async def waiting_on_a_lock(raw_db: Engine, request: asyncio.Future[Any]) -> None:
    """Returns once a session of the store waits for a row lock (PostgreSQL)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        assert not request.done(), request.result()
        with raw_db.connect() as connection:
            if connection.execute(query).scalar_one():
                return
        await asyncio.sleep(0.01)  # lets the store's request run on this loop
    pytest.fail("the store's insert never waited for the uncommitted row")


@pytest.mark.asyncio
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_create_that_loses_the_race_at_the_insert_is_refused_not_failed(
    client: TestClient, raw_db: Engine, settings: Settings
) -> None:
    """Both creates passed the store's check before either committed: the second insert
    waits on the first's row in the unique index, then fails, and that is a 409 too.
    (SQLite has one writer: its creates never overlap.)"""
    id_hash = FieldCipher(settings.encryption_key, settings.hash_key).keyed_hash(
        "id_number", ID_NUMBER
    )
    with raw_db.connect() as first:
        first.execute(
            insert_row(), {"hash": id_hash, "number": "DA202611300999", "status": "submitted"}
        )  # not committed yet
        second = asyncio.ensure_future(post(client, "second"))
        await waiting_on_a_lock(raw_db, second)
        first.commit()
        status, body, _ = await second
    assert (status, body["error"]) == (409, DUPLICATE)
    assert count_applications(raw_db) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_same_submission_committed_between_the_stores_checks_is_replayed(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click on PostgreSQL: the other request commits just after this one looked
    for its key and before it looks for an open application. That application is this
    submission's own, not a duplicate. (SQLite has one writer: no such moment.)"""
    look_up_key = Store._by_idempotency_key
    armed, twin = [True], []

    async def the_other_click_commits_meanwhile(store: Store, *args: Any) -> Any:
        found = await look_up_key(store, *args)
        if armed:
            armed.clear()
            twin.append(await post(client, "double-click"))
        return found

    monkeypatch.setattr(Store, "_by_idempotency_key", the_other_click_commits_meanwhile)
    status, body, _ = await post(client, "double-click")
    [(twin_status, twin_body, _)] = twin
    assert (twin_status, status) == (201, 200)
    assert (body["tracking_number"], body["replayed"]) == (twin_body["tracking_number"], True)


# --- The refusal is no free oracle ----------------------------------------------------
# Whoever fills a whole form with someone's ID number learns from the refusal whether
# that person has an open application for the service (for 低保, that is sensitive). A
# refusal therefore counts as a failed attempt of the conversation that asked, like a
# wrong proof (backend/throttling.py), except in the conversation that filed it.


async def probe(client: TestClient, person: int, prober: str = "rest:prober") -> Any:
    """A create for made-up person `person` from `prober`, with a key of its own."""
    return await client.post(
        "/applications",
        json=application_body(
            id_number=resident_id_number(person), conversation_id=prober, phone=PHONE_2
        ),
        headers={**SERVICE_HEADERS, "Idempotency-Key": f"{prober}-{person}-{uuid.uuid4().hex}"},
    )


async def file_for(client: TestClient, people: range) -> None:
    """An open elderly-card application for each of `people`, each by their own family."""
    for person in people:
        await create(
            client,
            key=f"family-{person}",
            id_number=resident_id_number(person),
            conversation_id=f"family-{person}",
        )


async def refused_for_too_many_attempts(response: Any) -> int:
    """The wait the refusal names, asserting it is the throttling's 429."""
    assert response.status == 429, await response.text()
    body = await response.json()
    assert body["error"] == "too_many_attempts"
    assert response.headers["Retry-After"] == str(body["retry_after"])
    return body["retry_after"]


@pytest.mark.asyncio
async def test_probing_ids_from_one_conversation_meets_the_throttle(
    client: TestClient, raw_db: Engine, clock: FakeClock
) -> None:
    await file_for(client, range(MAX_FAILURES + 1))
    for person in range(MAX_FAILURES):
        assert (await probe(client, person)).status == 409
    # Then nothing more is said, either way: someone with an open application and
    # someone without one (person 100) get the same answer, and nothing is created.
    waits = {
        await refused_for_too_many_attempts(await probe(client, p)) for p in (MAX_FAILURES, 100)
    }
    assert all(0 < wait <= WINDOW_SECONDS for wait in waits)
    assert count_applications(raw_db) == MAX_FAILURES + 1
    # Other conversations are not held back by the prober's refusals.
    assert (await probe(client, 100, prober="rest:neighbour")).status == 201
    # The refusals decay like failed proofs.
    clock.advance(WINDOW_SECONDS + 1)
    assert (await probe(client, MAX_FAILURES)).status == 409


@pytest.mark.asyncio
async def test_duplicate_refusals_and_wrong_proofs_count_together(client: TestClient) -> None:
    await file_for(client, range(1))
    number = (await create(client, key="own", id_number=ID_NUMBER_2))["tracking_number"]
    for _ in range(MAX_FAILURES - 1):
        assert (await lookup(client, number, "0000", conversation_id="rest:prober")).status == 404
    assert (await probe(client, 0)).status == 409
    response = await lookup(client, number, ID_NUMBER_2[-4:], conversation_id="rest:prober")
    await refused_for_too_many_attempts(response)


@pytest.mark.asyncio
async def test_creates_that_go_through_are_no_failures(client: TestClient) -> None:
    await file_for(client, range(1))
    for _ in range(MAX_FAILURES - 1):
        assert (await probe(client, 0)).status == 409
    for person in range(100, 100 + MAX_FAILURES):  # a family applying for several elders
        assert (await probe(client, person)).status == 201
    assert (await probe(client, 0)).status == 409
    await refused_for_too_many_attempts(await probe(client, 0))


@pytest.mark.asyncio
async def test_the_conversation_that_filed_it_is_never_held_back_by_its_duplicates(
    client: TestClient,
) -> None:
    # A resident who forgot applying yesterday, and tries again and again.
    first = await create(client, key="first", conversation_id="wechat:mother", channel="wechat")
    for attempt in range(MAX_FAILURES + 2):
        status, body, _ = await post(
            client, f"again-{attempt}", conversation_id="wechat:mother", channel="wechat"
        )
        assert (status, body["error"]) == (409, DUPLICATE)
    # Nothing was counted against it: its lookups and other applications go through.
    number = first["tracking_number"]
    response = await lookup(client, number, ID_NUMBER[-4:], conversation_id="wechat:mother")
    assert response.status == 200
    relief = await create(
        client, key="relief", service_type="temporary_relief",
        conversation_id="wechat:mother", channel="wechat",
    )  # fmt: skip
    assert relief["tracking_number"] != number


@pytest.mark.asyncio
async def test_a_throttled_conversation_still_gets_its_own_submission_back(
    client: TestClient,
) -> None:
    first = await create(client, key="mine", conversation_id="rest:prober", phone=PHONE_2)
    await file_for(client, range(MAX_FAILURES))
    for person in range(MAX_FAILURES):
        assert (await probe(client, person)).status == 409
    # The answer to a create that got lost: the same key, the same application.
    status, body, _ = await post(client, "mine", conversation_id="rest:prober", phone=PHONE_2)
    assert (status, body["tracking_number"]) == (200, first["tracking_number"])


@pytest.mark.asyncio
async def test_a_double_click_near_the_limit_is_still_one_submission(
    client: TestClient, raw_db: Engine
) -> None:
    await file_for(client, range(MAX_FAILURES - 1))
    for person in range(MAX_FAILURES - 1):
        assert (await probe(client, person)).status == 409
    # Sent twice at once: one submission, which must not hold itself back.
    results = await asyncio.gather(
        *(post(client, "click", conversation_id="rest:prober", phone=PHONE_2) for _ in range(6))
    )
    assert sorted(status for status, _, _ in results) == [200] * 5 + [201]
    assert count_applications(raw_db) == MAX_FAILURES
