"""Malformed and oversized input is a 400 (or 413) in the store's error format, never a
500 (finding 7): deep nesting, huge numbers, non-JSON constants, bad encodings."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from store_helpers import SERVICE_HEADERS, STAFF_HEADERS, assert_matches_schema

from backend.api.body import MAX_DEPTH, MAX_STRING_LENGTH

CREATE_HEADERS = {
    **SERVICE_HEADERS,
    "Idempotency-Key": "bodies",
    "Content-Type": "application/json",
}
ENDPOINTS = [
    ("/applications", CREATE_HEADERS),
    ("/applications/lookup", SERVICE_HEADERS),
    ("/applications/find", SERVICE_HEADERS),
    ("/applications/DA202611270001/withdraw", SERVICE_HEADERS),
    ("/staff/applications/search", STAFF_HEADERS),
    ("/staff/applications/DA202611270001/transitions", STAFF_HEADERS),
]
MALFORMED = {
    "nested 5,000 deep": b"[" * 5000 + b"]" * 5000,
    "objects nested 5,000 deep": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "nested one level too deep": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    "a 5,001-digit integer": b'{"limit": ' + b"9" * 5001 + b"}",
    "a 16-digit integer": b'{"limit": 1234567890123456}',
    "a float overflowing": b'{"limit": 1e999}',
    "NaN": b'{"limit": NaN}',
    "Infinity": b'{"limit": -Infinity}',
    "a string too long": b'{"note": "' + b"a" * (MAX_STRING_LENGTH + 1) + b'"}',
    "a key too long": b'{"' + b"k" * (MAX_STRING_LENGTH + 1) + b'": 1}',
    "not UTF-8": b'{"note": "\xff\xfe"}',
    "empty": b"",
    "truncated": b'{"status": ',
    "an array": b"[]",
    "a string": b'"text"',
    "null": b"null",
    "escaped quotes left open": b'["' + b'\\"' * 20000,
}


@pytest.mark.asyncio
@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_bodies_are_400s(client: TestClient, body: bytes) -> None:
    for path, headers in ENDPOINTS:
        response = await client.post(path, data=body, headers=headers)
        assert response.status == 400, (path, await response.text())
        error = await response.json()
        assert_matches_schema(error, "Error")
        assert error["error"] in {"invalid_json", "invalid_tracking_number"}, path


@pytest.mark.asyncio
async def test_bodies_within_the_bounds_are_read(client: TestClient) -> None:
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    response = await client.post("/staff/applications/search", data=nested, headers=STAFF_HEADERS)
    # Read, then refused for what it is: not an object.
    assert (await response.json())["message"] == "请求体应为 JSON 对象"
    brackets_in_text = b'{"township": "' + b"[{" * 20 + b'"}'
    response = await client.post(
        "/staff/applications/search", data=brackets_in_text, headers=STAFF_HEADERS
    )
    assert response.status == 200


@pytest.mark.asyncio
async def test_oversized_bodies_are_413s(client: TestClient) -> None:
    for path, headers in ENDPOINTS:
        response = await client.post(path, data=b"[" + b" " * 70_000 + b"]", headers=headers)
        assert response.status == 413, path
        assert (await response.json())["error"] == "payload_too_large"


@pytest.mark.asyncio
async def test_a_wrong_method_names_the_allowed_ones(client: TestClient) -> None:
    response = await client.delete("/applications", headers=SERVICE_HEADERS)
    assert response.status == 405
    assert (await response.json())["error"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
    response = await client.put("/health")
    assert response.status == 405
    assert "GET" in response.headers["Allow"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "params",
    [{}, {"conversation_id": ""}, {"conversation_id": "x" * 300}, {"conversation_id": "other:1"}],
)
async def test_listing_needs_a_conversation_of_a_known_channel(
    client: TestClient, params: dict[str, str]
) -> None:
    response = await client.get("/applications", params=params, headers=SERVICE_HEADERS)
    assert response.status == 400
    assert (await response.json())["field"] == "conversation_id"


@pytest.mark.asyncio
async def test_the_search_path_is_never_read_as_a_tracking_number(client: TestClient) -> None:
    response = await client.get("/staff/applications/search", headers=STAFF_HEADERS)
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
