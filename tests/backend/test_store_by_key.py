"""GET /applications/by-key/{key}: did a create with this key go through (agreement 5)?"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from store_helpers import SERVICE_HEADERS, assert_matches_schema, create


async def by_key(client: TestClient, key: str, conversation_id: str) -> object:
    return await client.get(
        f"/applications/by-key/{key}",
        params={"conversation_id": conversation_id},
        headers=SERVICE_HEADERS,
    )


@pytest.mark.asyncio
async def test_the_created_application_is_found_by_its_key(client: TestClient) -> None:
    created = await create(client, key="summary-shown-7f3a", conversation_id="wechat:o1",
                           channel="wechat")  # fmt: skip
    response = await by_key(client, "summary-shown-7f3a", "wechat:o1")
    assert response.status == 200
    body = await response.json()
    assert_matches_schema(body, "Created")
    assert body == {**created, "replayed": True}


@pytest.mark.asyncio
async def test_unknown_keys_and_other_conversations_get_404(client: TestClient) -> None:
    await create(client, key="key-a", conversation_id="wechat:o1", channel="wechat")
    for key, conversation_id in (("key-b", "wechat:o1"), ("key-a", "wechat:o2")):
        response = await by_key(client, key, conversation_id)
        assert response.status == 404
        assert (await response.json())["error"] == "not_found"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("key", "params"),
    [
        ("k" * 129, {"conversation_id": "rest:c"}),
        ("key-a", {}),
        ("key-a", {"conversation_id": "c"}),
    ],
)
async def test_malformed_key_lookups_are_400s(
    client: TestClient, key: str, params: dict[str, str]
) -> None:
    response = await client.get(
        f"/applications/by-key/{key}", params=params, headers=SERVICE_HEADERS
    )
    assert response.status == 400


@pytest.mark.asyncio
async def test_the_key_lookup_needs_the_service_token(client: TestClient) -> None:
    response = await client.get("/applications/by-key/key-a", params={"conversation_id": "rest:c"})
    assert response.status == 401
