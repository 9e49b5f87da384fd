"""Staff endpoints: lifecycle transitions, search by keyed hash, staff-only access."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from store_helpers import (
    ID_NUMBER,
    ID_NUMBER_2,
    NAME,
    PHONE,
    PHONE_2,
    SERVICE_HEADERS,
    STAFF_HEADERS,
    create,
    lookup,
    transition,
)

from backend.lifecycle import ALLOWED_TRANSITIONS, STATUSES


@pytest.mark.asyncio
async def test_full_lifecycle_with_history(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    for status in (
        "township_review",
        "district_review",
        "approved",
        "ready_for_pickup",
        "collected",
    ):
        response = await transition(client, number, status)
        assert response.status == 200, await response.text()
        assert (await response.json())["status"] == status

    detail = await (await client.get(f"/staff/applications/{number}", headers=STAFF_HEADERS)).json()
    assert detail["status_label"] == "已领取"
    assert detail["allowed_transitions"] == []
    assert [(entry["from_status"], entry["status"]) for entry in detail["history"]] == [
        (None, "submitted"),
        ("submitted", "township_review"),
        ("township_review", "district_review"),
        ("district_review", "approved"),
        ("approved", "ready_for_pickup"),
        ("ready_for_pickup", "collected"),
    ]
    assert detail["history"][-1]["actor"] == "李科员"
    assert detail["details"] == {}

    resident = await (await lookup(client, number, "1234")).json()
    assert len(resident["history"]) == 6
    assert "李科员" not in str(resident)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "approved"),
        ([], "rejected"),
        (["township_review", "district_review", "approved"], "withdrawn"),
        (["township_review", "district_review", "approved"], "township_review"),
        (["withdrawn"], "township_review"),
    ],
)
async def test_invalid_transitions_are_refused_clearly(
    client: TestClient, path: list[str], target: str
) -> None:
    number = (await create(client))["tracking_number"]
    for status in path:
        assert (await transition(client, number, status)).status == 200
    response = await transition(client, number, target, note="原因")
    assert response.status == 409
    body = await response.json()
    assert body["error"] == "invalid_transition"
    current = path[-1] if path else "submitted"
    assert body["current_status"] == current
    assert body["allowed"] == [s for s in STATUSES if s in ALLOWED_TRANSITIONS[current]]
    assert "不能从" in body["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize("target", ["returned", "rejected"])
async def test_returned_and_rejected_need_a_reason(client: TestClient, target: str) -> None:
    number = (await create(client))["tracking_number"]
    await transition(client, number, "township_review")
    for note in (None, "   "):
        response = await transition(client, number, target, note=note)
        assert response.status == 400
        assert (await response.json())["error"] == "note_required"
    response = await transition(client, number, target, note="缺户口簿复印件")
    assert response.status == 200
    resident = await (await lookup(client, number, PHONE)).json()
    assert resident["status"] == target
    assert resident["history"][-1]["note"] == "缺户口簿复印件"


@pytest.mark.asyncio
async def test_returned_application_goes_back_to_township_review(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    for status, note in (
        ("township_review", None),
        ("district_review", None),
        ("returned", "请补交房屋照片"),
        ("township_review", "已补交"),
        ("district_review", None),
    ):
        response = await transition(client, number, status, note=note)
        assert response.status == 200, await response.text()


@pytest.mark.asyncio
async def test_transition_validation(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    response = await transition(client, number, "lost")
    assert response.status == 400
    assert (await response.json())["field"] == "status"
    response = await client.post(
        f"/staff/applications/{number}/transitions",
        json={"status": "township_review"},
        headers=STAFF_HEADERS,
    )
    assert response.status == 400
    assert (await response.json())["field"] == "actor"
    response = await transition(client, number[:-4] + "0999", "township_review")
    assert response.status == 404


@pytest.mark.asyncio
async def test_search_finds_by_keyed_hash_and_masks(client: TestClient) -> None:
    first = await create(client, key="a")
    second = await create(client, key="b", id_number=ID_NUMBER_2, phone=PHONE_2)
    await transition(client, second["tracking_number"], "township_review")

    async def search(**filters: object) -> list[str]:
        response = await client.post(
            "/staff/applications/search", json=filters, headers=STAFF_HEADERS
        )
        assert response.status == 200, await response.text()
        raw = await response.text()
        for secret in (NAME, ID_NUMBER, ID_NUMBER_2, PHONE, PHONE_2):
            assert secret not in raw
        return [item["tracking_number"] for item in (await response.json())["applications"]]

    assert await search(id_number=ID_NUMBER) == [first["tracking_number"]]
    assert await search(phone="+86 139 8765 4321") == [second["tracking_number"]]
    assert await search(status="township_review") == [second["tracking_number"]]
    assert await search(township="牛佛镇", service_type="elderly_card", limit=1) == [
        second["tracking_number"]
    ]
    assert await search() == [second["tracking_number"], first["tracking_number"]]


@pytest.mark.asyncio
async def test_search_validation(client: TestClient) -> None:
    for body in ({"status": "lost"}, {"id_number": "123"}, {"limit": 0}, {"name": "王"}):
        response = await client.post("/staff/applications/search", json=body, headers=STAFF_HEADERS)
        assert response.status == 400, body


@pytest.mark.asyncio
async def test_staff_endpoints_need_the_staff_token(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    for headers in ({}, SERVICE_HEADERS):
        response = await client.post(
            f"/staff/applications/{number}/transitions",
            json={"status": "township_review", "actor": "x"},
            headers=headers,
        )
        assert response.status == 401
        response = await client.get(f"/staff/applications/{number}", headers=headers)
        assert response.status == 401
        response = await client.post("/staff/applications/search", json={}, headers=headers)
        assert response.status == 401
