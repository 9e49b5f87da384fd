"""Action-facing endpoints: create (idempotent), lookup with proof, conversation listing."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import (
    ID_NUMBER,
    ID_NUMBER_2,
    NAME,
    PHONE,
    PHONE_2,
    SERVICE_HEADERS,
    STAFF_HEADERS,
    application_body,
    create,
    lookup,
)

from backend.tracking import CHINA_TZ
from scripts.id_numbers import resident_id_number


def count(raw_db: Engine, table: str) -> int:
    with raw_db.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.mark.asyncio
async def test_create_returns_tracking_number_of_today(client: TestClient) -> None:
    created = await create(client)
    today = datetime.now(CHINA_TZ).strftime("%Y%m%d")
    assert created["tracking_number"] == f"DA{today}0001"
    assert created["status"] == "submitted"
    assert created["status_label"] == "已提交"
    assert created["replayed"] is False
    second = await create(client, key="key-2", id_number=ID_NUMBER_2)
    assert second["tracking_number"] == f"DA{today}0002"


@pytest.mark.asyncio
async def test_same_idempotency_key_creates_one_application(
    client: TestClient, raw_db: Engine
) -> None:
    first = await create(client, key="form-42")
    response = await client.post(
        "/applications",
        json=application_body(),
        headers={**SERVICE_HEADERS, "Idempotency-Key": "form-42"},
    )
    assert response.status == 200
    replay = await response.json()
    assert replay["tracking_number"] == first["tracking_number"]
    assert replay["replayed"] is True
    assert count(raw_db, "applications") == 1
    assert count(raw_db, "status_history") == 1


@pytest.mark.asyncio
async def test_concurrent_requests_with_one_key_create_one_application(
    client: TestClient, raw_db: Engine
) -> None:
    async def post() -> tuple[int, str]:
        response = await client.post(
            "/applications",
            json=application_body(),
            headers={**SERVICE_HEADERS, "Idempotency-Key": "double-click"},
        )
        return response.status, (await response.json())["tracking_number"]

    results = await asyncio.gather(*(post() for _ in range(8)))
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({number for _, number in results}) == 1
    assert count(raw_db, "applications") == 1


@pytest.mark.asyncio
async def test_concurrent_creates_get_distinct_consecutive_numbers(client: TestClient) -> None:
    created = await asyncio.gather(
        *(create(client, key=f"k{i}", id_number=resident_id_number(i)) for i in range(20))
    )
    sequences = sorted(int(item["tracking_number"][-4:]) for item in created)
    assert sequences == list(range(1, 21))


@pytest.mark.asyncio
async def test_reused_key_with_different_request_is_refused(client: TestClient) -> None:
    await create(client, key="k")
    response = await client.post(
        "/applications",
        json=application_body(township="回龙镇"),
        headers={**SERVICE_HEADERS, "Idempotency-Key": "k"},
    )
    assert response.status == 409
    assert (await response.json())["error"] == "idempotency_conflict"


@pytest.mark.asyncio
async def test_create_needs_idempotency_key(client: TestClient) -> None:
    response = await client.post("/applications", json=application_body(), headers=SERVICE_HEADERS)
    assert response.status == 400
    assert (await response.json())["error"] == "missing_idempotency_key"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("id_number", "510304196211081235", "invalid_id_number"),  # check character
        ("id_number", "510304196202301236", "invalid_id_number"),  # 30 February
        ("phone", "02812345678", "invalid_phone"),  # landline
        ("phone", "12345678901", "invalid_phone"),
        ("township", "  ", "invalid_field"),
        ("service_type", "passport", "invalid_field"),
        ("details", ["not", "an", "object"], "invalid_field"),
        ("unexpected", "some value", "invalid_field"),
    ],
)
async def test_invalid_fields_are_refused_without_echoing_them(
    client: TestClient, field: str, value: object, code: str
) -> None:
    response = await client.post(
        "/applications",
        json=application_body(**{field: value}),
        headers={**SERVICE_HEADERS, "Idempotency-Key": "k"},
    )
    assert response.status == 400
    body = await response.json()
    assert body["error"] == code
    assert body["field"] == field
    text_body = await response.text()
    if isinstance(value, str) and value.strip():
        assert value not in text_body


@pytest.mark.asyncio
async def test_input_is_normalised(client: TestClient) -> None:
    created = await create(client, id_number=" 51030419550701102x ", phone="+86 139-8765-4321")
    for proof in (PHONE_2, "102x", "102X"):
        response = await lookup(client, created["tracking_number"], proof)
        assert response.status == 200
        assert (await response.json())["applicant"]["id_number"] == "5103**********102X"


@pytest.mark.asyncio
@pytest.mark.parametrize("proof", ["1234", PHONE, "+86 138 1234 5678"])
async def test_lookup_with_proof(client: TestClient, proof: str) -> None:
    created = await create(client)
    response = await lookup(client, created["tracking_number"], proof)
    assert response.status == 200
    body = await response.json()
    assert body["tracking_number"] == created["tracking_number"]
    assert body["status"] == "submitted"
    assert body["status_label"] == "已提交"
    assert body["applicant"] == {
        "name": "王*英",
        "id_number": "5103**********1234",
        "phone": "138****5678",
    }
    assert [entry["status"] for entry in body["history"]] == ["submitted"]
    assert "actor" not in body["history"][0]


@pytest.mark.asyncio
async def test_lookup_accepts_lowercase_spaces_and_dashes(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    typed = f"da {number[2:6]}-{number[6:10]}-{number[10:]}".lower()
    response = await lookup(client, typed, "1234")
    assert response.status == 200
    assert (await response.json())["tracking_number"] == number


@pytest.mark.asyncio
async def test_wrong_proof_looks_like_an_unknown_number(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    wrong_proof = await lookup(client, number, "9999")
    unknown = await lookup(client, number[:-4] + "0999", "1234", conversation_id="other")
    assert wrong_proof.status == unknown.status == 404
    assert await wrong_proof.json() == await unknown.json()
    wrong_phone = await lookup(client, number, PHONE_2, conversation_id="third")
    assert wrong_phone.status == 404
    assert await wrong_phone.json() == await unknown.json()


@pytest.mark.asyncio
async def test_malformed_lookups_are_refused(client: TestClient) -> None:
    response = await lookup(client, "DA2026", "1234")
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_tracking_number"
    number = (await create(client))["tracking_number"]
    response = await lookup(client, number, "12")
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_proof"


@pytest.mark.asyncio
async def test_list_for_conversation_shows_only_its_own_masked(client: TestClient) -> None:
    mine = await create(client, key="a", conversation_id="conv-me")
    second = await create(
        client, key="b", conversation_id="conv-me", service_type="temporary_relief"
    )
    await create(client, key="c", conversation_id="conv-other", id_number=ID_NUMBER_2)
    response = await client.get(
        "/applications", params={"conversation_id": "rest:conv-me"}, headers=SERVICE_HEADERS
    )
    assert response.status == 200
    listing = (await response.json())["applications"]
    assert [item["tracking_number"] for item in listing] == [
        second["tracking_number"],
        mine["tracking_number"],
    ]
    assert {item["applicant_name"] for item in listing} == {"王*英"}
    raw = await response.text()
    for secret in (NAME, ID_NUMBER, PHONE):
        assert secret not in raw


@pytest.mark.asyncio
async def test_list_needs_conversation_id(client: TestClient) -> None:
    response = await client.get("/applications", headers=SERVICE_HEADERS)
    assert response.status == 400


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        STAFF_HEADERS,
        {"Authorization": "x"},
    ],
)
async def test_service_endpoints_need_the_service_token(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = await client.post(
        "/applications", json=application_body(), headers={**headers, "Idempotency-Key": "k"}
    )
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    response = await client.get(
        "/applications", params={"conversation_id": "rest:c"}, headers=headers
    )
    assert response.status == 401


@pytest.mark.asyncio
async def test_tracking_number_format(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    assert re.fullmatch(r"DA\d{8}\d{4}", number)
