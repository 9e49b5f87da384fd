"""Key rotation (MultiFernet, `rotate-keys`) and the retention purge, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import (
    DETAILS,
    ID_NUMBER,
    NAME,
    PHONE,
    SERVICE_HEADERS,
    STAFF_HEADERS,
    FakeClock,
    capture_body,
    create,
    find,
    lookup,
    start_client,
    transition,
    withdraw,
)

from backend.config import Settings
from backend.crypto import FieldCipher
from backend.db import create_async_db_engine, session_factory
from backend.keys import ENCRYPTED_COLUMNS, rotate_keys
from backend.retention import purge, purge_conversations

DAY = 86400


@pytest_asyncio.fixture
async def sessions(settings: Settings) -> AsyncIterator[Any]:
    engine = create_async_db_engine(settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


def stored_tokens(raw_db: Engine) -> list[str]:
    """Every encrypted value of every table."""
    tokens = []
    with raw_db.connect() as connection:
        for table, names in ENCRYPTED_COLUMNS.items():
            query = f"SELECT {', '.join(names)} FROM {table.__tablename__}"
            for row in connection.execute(text(query)):
                tokens.extend(token for token in row if token is not None)
    return tokens


@pytest.mark.asyncio
async def test_rotation_re_encrypts_every_field_with_the_newest_key(
    client: TestClient, settings: Settings, clock: FakeClock, raw_db: Engine, sessions: Any
) -> None:
    old_key = settings.encryption_key
    # One person's applications for three services; housing, the newest, has details.
    for index, service in enumerate(("elderly_card", "temporary_relief", "housing_renovation")):
        await create(client, key=f"k{index}", service_type=service)
    captured = await client.post("/inbox/items", json=capture_body(), headers=SERVICE_HEADERS)
    assert captured.status == 201
    new_key = Fernet.generate_key().decode()
    both = FieldCipher(f"{new_key},{old_key}", settings.hash_key)
    assert await rotate_keys(sessions, both) == 3 + 2  # applications, the item and its group

    new_only = FieldCipher(new_key, settings.hash_key)
    old_only = FieldCipher(old_key, settings.hash_key)
    tokens = stored_tokens(raw_db)
    assert len(tokens) == 3 * 4 + 2  # the group has no reply yet
    for token in tokens:
        new_only.decrypt(token)
        with pytest.raises(InvalidToken):
            old_only.decrypt(token)
    # A store holding only the new key serves the rotated data.
    rotated = await start_client(replace(settings, encryption_key=new_key), clock)
    try:
        response = await find(rotated, ID_NUMBER, PHONE)
        assert len((await response.json())["applications"]) == 3
        number = (await response.json())["applications"][0]["tracking_number"]
        detail = await rotated.get(f"/staff/applications/{number}", headers=STAFF_HEADERS)
        assert (await detail.json())["details"] == DETAILS["housing_renovation"]
    finally:
        await rotated.close()


@pytest.mark.asyncio
async def test_a_store_with_several_keys_encrypts_with_the_first(
    settings: Settings, clock: FakeClock, raw_db: Engine
) -> None:
    newest = Fernet.generate_key().decode()
    client = await start_client(
        replace(settings, encryption_key=f"{newest},{settings.encryption_key}"), clock
    )
    try:
        await create(client)
    finally:
        await client.close()
    assert FieldCipher(newest, settings.hash_key).decrypt(stored_tokens(raw_db)[0]) == NAME


async def closed_and_open(client: TestClient, clock: FakeClock) -> dict[str, str]:
    """Applications in each situation the purge must tell apart."""
    numbers = {}
    numbers["withdrawn_long_ago"] = (await create(client, key="a"))["tracking_number"]
    assert (await withdraw(client, numbers["withdrawn_long_ago"])).status == 200
    numbers["rejected_long_ago"] = (await create(client, key="b"))["tracking_number"]
    await transition(client, numbers["rejected_long_ago"], "township_review")
    await transition(client, numbers["rejected_long_ago"], "rejected", note="王秀英材料不全")
    numbers["open_long_ago"] = (await create(client, key="c"))["tracking_number"]
    clock.advance(31 * DAY)
    # Another service: the open one above still blocks a second elderly card.
    numbers["withdrawn_lately"] = (await create(client, key="d", service_type="temporary_relief"))[
        "tracking_number"
    ]
    assert (await withdraw(client, numbers["withdrawn_lately"])).status == 200
    return numbers


@pytest.mark.asyncio
async def test_purge_anonymises_closed_applications_past_the_period(
    client: TestClient, settings: Settings, clock: FakeClock, sessions: Any
) -> None:
    numbers = await closed_and_open(client, clock)
    cipher = FieldCipher(settings.encryption_key, settings.hash_key)
    assert await purge(sessions, cipher, retention_days=30, now=clock()) == 2
    assert await purge(sessions, cipher, retention_days=30, now=clock()) == 0  # idempotent

    for name, number in numbers.items():
        response = await client.get(f"/staff/applications/{number}", headers=STAFF_HEADERS)
        detail = await response.json()
        erased = name.endswith("long_ago") and not name.startswith("open")
        assert detail["anonymised"] is erased, name
        if erased:
            assert detail["applicant"] == {"name": "", "id_number": "", "phone": ""}
            assert (detail["conversation_id"], detail["details"]) == ("", {})
            assert all(entry["note"] is None for entry in detail["history"])
            assert detail["status"] in {"withdrawn", "rejected"}  # statuses and dates stay
            assert (await lookup(client, number, PHONE)).status == 404
        else:
            assert detail["applicant"]["name"] == "王*英"
    found = await (await find(client, ID_NUMBER, PHONE, conversation_id="fresh")).json()
    assert {item["tracking_number"] for item in found["applications"]} == {
        numbers["open_long_ago"],
        numbers["withdrawn_lately"],
    }


@pytest.mark.asyncio
async def test_conversation_data_past_retention_is_deleted_but_training_data_kept(
    client: TestClient, raw_db: Engine, sessions: Any
) -> None:
    old, recent = "2026-01-05T10:00:00+08:00", "2026-11-30T10:00:00+08:00"
    for capture_id, question, moment in (
        ("old-question", "很久以前问的", old),
        ("training-example", "训练用的老问题", old),
        ("recent-question", "昨天问的", recent),
    ):
        response = await client.post(
            "/inbox/items",
            json=capture_body(question, capture_id=capture_id, occurred_at=moment),
            headers=SERVICE_HEADERS,
        )
        assert response.status == 201
    long_ago = datetime(2026, 1, 5, tzinfo=timezone.utc)
    with raw_db.begin() as connection:
        for capture_id, state in (("training-example", "assigned"), ("old-question", "open")):
            connection.execute(
                text(
                    "UPDATE inbox_groups SET state = :state, last_seen_at = :old WHERE id ="
                    " (SELECT group_id FROM inbox_items WHERE capture_id = :capture)"
                ),
                {"state": state, "old": long_ago, "capture": capture_id},
            )
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    deleted = await purge_conversations(sessions, 180, now)
    with raw_db.connect() as connection:
        left = connection.execute(text("SELECT capture_id FROM inbox_items")).scalars().all()
        groups = connection.execute(text("SELECT count(*) FROM inbox_groups")).scalar()
    assert sorted(left) == ["recent-question", "training-example"]
    assert groups == 2
    assert deleted == 2  # one question and its emptied group
    assert await purge_conversations(sessions, 180, now) == 0
