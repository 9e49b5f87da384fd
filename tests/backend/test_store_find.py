"""Finding an applicant's applications by ID and phone number, without a tracking number."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import (
    ID_NUMBER,
    ID_NUMBER_2,
    MAX_FAILURES,
    NAME,
    PHONE,
    PHONE_2,
    SERVICE_HEADERS,
    STAFF_HEADERS,
    WINDOW_SECONDS,
    FakeClock,
    assert_matches_schema,
    create,
    find,
    transition,
)

# Valid numbers no application uses.
OTHER_IDS = ["360426199101010071", "120103198806018241", "510304197001010037"]
OTHER_PHONES = ["13700000001", "13700000002", "13700000003"]


async def found(
    client: TestClient, id_number: str, phone: str, caller: str = "conv-1"
) -> list[str]:
    response = await find(client, id_number, phone, conversation_id=caller)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert_matches_schema(body, "ResidentDetailList")
    return [item["tracking_number"] for item in body["applications"]]


async def fail(client: TestClient, times: int, id_number: str = ID_NUMBER) -> None:
    for index in range(times):
        caller = f"guess-{id_number}-{index}"
        assert await found(client, id_number, OTHER_PHONES[index], caller=caller) == []


@pytest.mark.asyncio
async def test_both_numbers_must_match(client: TestClient) -> None:
    first = (await create(client, key="a"))["tracking_number"]
    second = (await create(client, key="b", service_type="temporary_relief"))["tracking_number"]
    other_phone = (await create(client, key="c", phone=PHONE_2, service_type="housing_renovation"))[
        "tracking_number"
    ]
    other_id = (await create(client, key="d", id_number=ID_NUMBER_2))["tracking_number"]

    assert await found(client, ID_NUMBER, PHONE) == [second, first]
    assert await found(client, ID_NUMBER, PHONE_2) == [other_phone]
    assert await found(client, ID_NUMBER_2, PHONE) == [other_id]
    assert await found(client, ID_NUMBER_2, PHONE_2) == []


@pytest.mark.asyncio
async def test_other_conversations_find_them_too(client: TestClient) -> None:
    number = (await create(client, conversation_id="web-last-week"))["tracking_number"]
    assert await found(client, ID_NUMBER, PHONE, caller="wechat-today") == [number]


@pytest.mark.asyncio
async def test_results_are_masked(client: TestClient) -> None:
    await create(client)
    response = await find(client, ID_NUMBER, PHONE)
    raw = await response.text()
    for secret in (NAME, ID_NUMBER, PHONE):
        assert secret not in raw
    (item,) = (await response.json())["applications"]
    assert item["applicant"]["name"] == "王*英"
    assert item["applicant"]["id_number"] == ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:]
    assert (item["status"], item["service_label"]) == ("submitted", "老年人优待证")


@pytest.mark.asyncio
async def test_typed_numbers_are_normalised(client: TestClient) -> None:
    number = (await create(client, id_number="51030419550701102X"))["tracking_number"]
    assert await found(client, " 51030419550701102x", "+86 138-1234-5678") == [number]


@pytest.mark.asyncio
async def test_empty_searches_block_the_id_number(client: TestClient, clock: FakeClock) -> None:
    number = (await create(client))["tracking_number"]
    # Different callers trying phones for one ID: only the per-ID limit applies.
    await fail(client, MAX_FAILURES)
    blocked = await find(client, ID_NUMBER, PHONE, conversation_id="the-applicant")
    assert blocked.status == 429
    body = await blocked.json()
    assert_matches_schema(body, "Error")
    assert body["error"] == "too_many_attempts"
    assert 0 < body["retry_after"] <= WINDOW_SECONDS
    assert blocked.headers["Retry-After"] == str(body["retry_after"])
    # Other ID numbers are not affected.
    assert await found(client, ID_NUMBER_2, PHONE, caller="someone") == []

    clock.advance(WINDOW_SECONDS + 1)
    assert await found(client, ID_NUMBER, PHONE, caller="the-applicant") == [number]


@pytest.mark.asyncio
async def test_ids_without_applications_are_throttled_alike(client: TestClient) -> None:
    await fail(client, MAX_FAILURES, id_number=OTHER_IDS[0])
    response = await find(client, OTHER_IDS[0], PHONE, conversation_id="fresh")
    assert response.status == 429


@pytest.mark.asyncio
async def test_empty_searches_block_the_caller(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    for id_number in OTHER_IDS[:MAX_FAILURES]:
        assert await found(client, id_number, PHONE, caller="scanner") == []
    assert (await find(client, ID_NUMBER, PHONE, conversation_id="scanner")).status == 429
    assert await found(client, ID_NUMBER, PHONE, caller="someone-else") == [number]


@pytest.mark.asyncio
async def test_failed_lookups_count_for_the_caller(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    for _ in range(MAX_FAILURES):
        response = await client.post(
            "/applications/lookup",
            json={"tracking_number": number, "proof": "0000", "conversation_id": "rest:guesser"},
            headers=SERVICE_HEADERS,
        )
        assert response.status == 404
    assert (await find(client, ID_NUMBER, PHONE, conversation_id="guesser")).status == 429


@pytest.mark.asyncio
async def test_a_successful_search_does_not_reset_the_failures_of_the_id(
    client: TestClient,
) -> None:
    # An attacker who knows an ID number can file an application with their own phone:
    # their successful search must not let them guess the real applicant's phone again.
    await create(client)
    await fail(client, MAX_FAILURES - 1)
    # (Another service: one open application per person and service.)
    await create(client, key="attacker", phone=PHONE_2, service_type="temporary_relief")
    assert await found(client, ID_NUMBER, PHONE_2, caller="attacker") != []
    guess = await find(client, ID_NUMBER, OTHER_PHONES[0], conversation_id="attacker-2")
    assert guess.status == 200 and (await guess.json())["applications"] == []
    blocked = await find(client, ID_NUMBER, OTHER_PHONES[1], conversation_id="attacker-3")
    assert blocked.status == 429


@pytest.mark.asyncio
async def test_failures_are_stored_without_the_id_number(
    client: TestClient, raw_db: Engine
) -> None:
    await fail(client, 1)
    with raw_db.connect() as connection:
        rows = connection.execute(text("SELECT scope, subject FROM proof_failures")).all()
    assert {scope for scope, _ in rows} == {"id_number", "caller"}
    assert all(ID_NUMBER not in subject and PHONE not in subject for _, subject in rows)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"id_number": "510304196211081235", "phone": PHONE}, "invalid_id_number", "id_number"),
        ({"id_number": "510304196202301236", "phone": PHONE}, "invalid_id_number", "id_number"),
        ({"id_number": ID_NUMBER, "phone": "02812345678"}, "invalid_phone", "phone"),
        ({"phone": PHONE}, "invalid_field", "id_number"),
        ({"id_number": ID_NUMBER}, "invalid_field", "phone"),
        ({"id_number": ID_NUMBER, "phone": PHONE, "name": NAME}, "invalid_field", "name"),
    ],
)
async def test_invalid_searches_are_refused_without_echoing(
    client: TestClient, body: dict[str, str], code: str, field: str
) -> None:
    response = await client.post(
        "/applications/find",
        json={"conversation_id": "rest:conv-1", **body},
        headers=SERVICE_HEADERS,
    )
    assert response.status == 400
    answer = await response.json()
    assert (answer["error"], answer["field"]) == (code, field)
    raw = await response.text()
    for value in body.values():
        assert value not in raw


@pytest.mark.asyncio
async def test_search_needs_a_conversation(client: TestClient) -> None:
    response = await client.post(
        "/applications/find", json={"id_number": ID_NUMBER, "phone": PHONE}, headers=SERVICE_HEADERS
    )
    assert response.status == 400
    assert (await response.json())["field"] == "conversation_id"


@pytest.mark.asyncio
@pytest.mark.parametrize("headers", [{}, STAFF_HEADERS])
async def test_search_needs_the_service_token(client: TestClient, headers: dict[str, str]) -> None:
    response = await client.post(
        "/applications/find",
        json={"id_number": ID_NUMBER, "phone": PHONE, "conversation_id": "rest:conv-1"},
        headers=headers,
    )
    assert response.status == 401


@pytest.mark.asyncio
async def test_a_returned_application_found_by_applicant_says_what_to_bring(
    client: TestClient,
) -> None:
    number = (await create(client, key="r"))["tracking_number"]
    assert (await transition(client, number, "township_review")).status == 200
    assert (await transition(client, number, "returned", "请补交孙女户口本页")).status == 200
    body = await (await find(client, ID_NUMBER, PHONE)).json()
    assert body["applications"][0]["history"][-1]["note"] == "请补交孙女户口本页"
