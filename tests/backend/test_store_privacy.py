"""Personal data: encrypted at rest, masked in responses, absent from logs and errors."""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from store_helpers import (
    ID_NUMBER,
    NAME,
    PHONE,
    SERVICE_HEADERS,
    application_body,
    create,
    lookup,
    sqlite_file_bytes,
)

from backend.config import Settings
from backend.crypto import FieldCipher
from backend.store import Store


@pytest.mark.asyncio
async def test_personal_data_is_encrypted_at_rest(
    client: TestClient, raw_db: Engine, settings: Settings
) -> None:
    number = (await create(client))["tracking_number"]
    with raw_db.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM applications WHERE tracking_number = :n"), {"n": number}
        ).one()
    stored = " ".join(str(value) for value in row)
    for secret in (ID_NUMBER, PHONE, NAME):
        assert secret not in stored
    cipher = FieldCipher(settings.encryption_key, settings.hash_key)
    assert cipher.decrypt(row.id_number_enc) == ID_NUMBER
    assert cipher.decrypt(row.phone_enc) == PHONE
    assert cipher.decrypt(row.applicant_name_enc) == NAME
    assert row.id_number_hash == cipher.keyed_hash("id_number", ID_NUMBER)

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        raw = sqlite_file_bytes(url.database)
        for secret in (ID_NUMBER, PHONE, NAME):
            assert secret.encode() not in raw


@pytest.mark.asyncio
async def test_responses_mask_personal_data(client: TestClient) -> None:
    number = (await create(client))["tracking_number"]
    response = await lookup(client, number, PHONE)
    raw = await response.text()
    for secret in (ID_NUMBER, PHONE, NAME):
        assert secret not in raw
    assert "5103**********1234" in raw
    assert "138****5678" in raw
    assert "王*英" in raw


@pytest.mark.asyncio
async def test_logs_hold_no_personal_data(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    number = (await create(client))["tracking_number"]
    await lookup(client, number, PHONE)
    await lookup(client, number, "13900000000")
    await client.post(
        "/applications",
        json=application_body(phone=PHONE + "9"),
        headers={**SERVICE_HEADERS, "Idempotency-Key": "bad"},
    )
    assert caplog.records, "expected at least the access log"
    for record in caplog.records:
        message = record.getMessage()
        for secret in (ID_NUMBER, PHONE, NAME):
            assert secret not in message


@pytest.mark.asyncio
async def test_unexpected_errors_reveal_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError(f"boom {ID_NUMBER}")

    monkeypatch.setattr(Store, "create", broken)
    response = await client.post(
        "/applications",
        json=application_body(),
        headers={**SERVICE_HEADERS, "Idempotency-Key": "k"},
    )
    assert response.status == 500
    assert await response.json() == {"error": "internal_error", "message": "服务器内部错误"}


@pytest.mark.asyncio
async def test_details_are_encrypted_at_rest(
    client: TestClient, raw_db: Engine, settings: Settings
) -> None:
    incident = "邻居张秀兰帮忙报的，她电话13987654321"
    number = (
        await create(client, service_type="temporary_relief", details={"incident": incident})
    )["tracking_number"]
    with raw_db.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM applications WHERE tracking_number = :n"), {"n": number}
        ).one()
    stored = " ".join(str(value) for value in row)
    assert "张秀兰" not in stored and "13987654321" not in stored
    cipher = FieldCipher(settings.encryption_key, settings.hash_key)
    assert cipher.decrypt_json(row.details_enc) == {"incident": incident}
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        raw = sqlite_file_bytes(url.database)
        assert "张秀兰".encode() not in raw and b"13987654321" not in raw
