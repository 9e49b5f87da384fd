"""Capture into the staff inbox: idempotent, validated, encrypted, grouped."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import SERVICE_HEADERS, STAFF_HEADERS, assert_matches_schema, capture_body

from backend.api.common import STORE

ID_NUMBER = "510304195503120042"


async def capture(client: TestClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/inbox/items", json=body, headers=SERVICE_HEADERS)
    return response.status, await response.json()


async def test_a_capture_is_stored_once_however_often_it_is_sent(
    client: TestClient, raw_db: Engine
) -> None:
    body = capture_body()
    first_status, first = await capture(client, body)
    again_status, again = await capture(client, {**body, "text": "别的内容"})
    assert (first_status, again_status) == (201, 200)
    assert first == again
    assert_matches_schema(first, "Captured")
    with raw_db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM inbox_items")).scalar() == 1


async def test_concurrent_retries_of_one_capture_store_one_item(
    client: TestClient, raw_db: Engine
) -> None:
    body = capture_body()
    results = await asyncio.gather(*(capture(client, body) for _ in range(5)))
    assert sorted(status for status, _ in results) == [200, 200, 200, 200, 201]
    with raw_db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM inbox_items")).scalar() == 1


async def test_the_message_and_reply_are_encrypted_at_rest(
    client: TestClient, raw_db: Engine
) -> None:
    await capture(
        client, capture_body(f"我身份证{ID_NUMBER}查不到", reply="请问您的电话13812345678")
    )
    with raw_db.connect() as connection:
        row = connection.execute(text("SELECT text_enc, reply_enc FROM inbox_items")).one()
    assert ID_NUMBER not in row.text_enc and "查不到" not in row.text_enc
    assert "13812345678" not in row.reply_enc


async def test_the_service_token_is_required(client: TestClient) -> None:
    for headers in ({}, STAFF_HEADERS):
        response = await client.post("/inbox/items", json=capture_body(), headers=headers)
        assert response.status == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capture_id", "short"),
        ("capture_id", "a/b/c/d/e/f/g"),
        ("reason", "because"),
        ("channel", "sms"),
        ("conversation_id", "wechat:someone"),  # not of the channel named
        ("text", "x" * 2001),
        ("occurred_at", "2026-12-01T10:00:00"),  # no time zone
        ("occurred_at", "yesterday"),
        ("intents", [{"name": "faq", "confidence": 1.5}]),
        ("intents", [{"name": "faq", "confidence": True}]),
        ("intents", [{"name": "", "confidence": 0.5}]),
        ("topics", [{"name": "faq/x", "confidence": 0.1}] * 11),
        ("township", "自流井区"),
        ("surprise", 1),
    ],
)
async def test_a_malformed_capture_is_refused_and_names_its_field(
    client: TestClient, field: str, value: Any
) -> None:
    status, body = await capture(client, capture_body(**{field: value}))
    assert status == 400
    assert body["field"] == field


async def test_an_empty_message_is_accepted(client: TestClient) -> None:
    status, _ = await capture(client, capture_body(""))
    assert status == 201


async def test_similar_questions_join_one_group_and_others_start_their_own(
    client: TestClient,
) -> None:
    groups = {}
    for question in ("低保咋个申请嘛", "低保咋个申请？", "低保 咋个申请哦！", "我家猫跑了咋个办"):
        _, body = await capture(client, capture_body(question))
        groups[question] = body["group_id"]
    assert groups["低保咋个申请嘛"] == groups["低保咋个申请？"] == groups["低保 咋个申请哦！"]
    assert groups["我家猫跑了咋个办"] != groups["低保咋个申请嘛"]


async def test_a_handled_group_takes_no_more_questions(client: TestClient, raw_db: Engine) -> None:
    _, first = await capture(client, capture_body("低保咋个申请"))
    with raw_db.begin() as connection:
        connection.execute(text("UPDATE inbox_groups SET state = 'dismissed'"))
    _, second = await capture(client, capture_body("低保咋个申请"))
    assert second["group_id"] != first["group_id"]


async def test_a_did_you_mean_is_resolved_by_the_residents_pick(
    client: TestClient, raw_db: Engine
) -> None:
    body = capture_body("低保那个咋整", reason="clarified")
    await capture(client, body)
    path = f"/inbox/items/{body['capture_id']}/resolution"
    for _ in range(2):  # idempotent
        response = await client.post(
            path, json={"label": "faq/subsistence_apply"}, headers=SERVICE_HEADERS
        )
        assert response.status == 200
    with raw_db.connect() as connection:
        label = connection.execute(text("SELECT resolved_label FROM inbox_items")).scalar()
    assert label == "faq/subsistence_apply"


async def test_only_a_did_you_mean_can_be_resolved(client: TestClient) -> None:
    body = capture_body(reason="fallback")
    await capture(client, body)
    response = await client.post(
        f"/inbox/items/{body['capture_id']}/resolution",
        json={"label": "faq/subsistence_apply"},
        headers=SERVICE_HEADERS,
    )
    assert response.status == 409
    unknown = await client.post(
        f"/inbox/items/{uuid.uuid4().hex}/resolution",
        json={"label": "faq/subsistence_apply"},
        headers=SERVICE_HEADERS,
    )
    assert unknown.status == 404


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\ude00\\ud83d"])
async def test_a_lone_surrogate_in_a_residents_words_is_kept_not_a_server_error(
    client: TestClient, raw_db: Engine, escape: str
) -> None:
    """A valid JSON escape that is no character (the widget lets one through): refused or
    failing, the capture outbox would hold every later question, count and erasure."""
    body = capture_body("低保PLACEHOLDER咋个办")
    raw = json.dumps(body).replace("PLACEHOLDER", escape).encode()
    response = await client.post(
        "/inbox/items", data=raw, headers={**SERVICE_HEADERS, "Content-Type": "application/json"}
    )
    assert response.status == 201, await response.text()
    with raw_db.connect() as connection:
        stored = connection.execute(text("SELECT text_enc FROM inbox_items")).scalar()
    assert client.app[STORE].cipher.decrypt(stored).startswith("低保\ufffd")
