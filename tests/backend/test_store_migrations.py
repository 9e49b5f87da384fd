"""Migration 0002 on a database holding applications from before it: details encrypted
with the store's key, nothing lost; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import inspect, text
from store_helpers import new_postgresql_database

from backend.crypto import FieldCipher
from backend.db import alembic_config, create_sync_engine, upgrade_database

DETAILS = {"incident": "邻居张秀兰说家里失火了"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/old.db"
        return
    with new_postgresql_database("store_migration") as url:
        yield url


def test_existing_details_are_encrypted_by_the_migration(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORE_ENCRYPTION_KEY", raising=False)
    command.upgrade(alembic_config(empty_database), "0001")
    engine = create_sync_engine(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO applications (tracking_number, service_type,"
                    " applicant_name_enc, id_number_enc, id_number_hash, phone_enc, phone_hash,"
                    " township, details, channel, conversation_id, status, idempotency_key,"
                    " request_fingerprint, created_at, status_changed_at) VALUES"
                    " ('DA202611300001', 'temporary_relief', 'n', 'i', 'h', 'p', 'h', '牛佛镇',"
                    " :details, 'wechat', 'wechat:o1', 'submitted', 'k', 'f',"
                    " '2026-11-30 01:00:00', '2026-11-30 01:00:00')"
                ),
                {"details": json.dumps(DETAILS, ensure_ascii=False)},
            )
        key = Fernet.generate_key().decode()
        with pytest.raises(RuntimeError, match="STORE_ENCRYPTION_KEY"):
            upgrade_database(empty_database)
        upgrade_database(empty_database, key)
        columns = {column["name"] for column in inspect(engine).get_columns("applications")}
        assert "details" not in columns
        with engine.connect() as connection:
            token, notice = connection.execute(
                text("SELECT details_enc, privacy_notice FROM applications")
            ).one()
        assert "张秀兰" not in token
        assert FieldCipher(key, "h" * 16).decrypt_json(token) == DETAILS
        assert notice is None  # not recorded before 0002

        command.downgrade(alembic_config(empty_database, key), "0001")
        with engine.connect() as connection:
            (details,) = connection.execute(text("SELECT details FROM applications")).one()
        assert (json.loads(details) if isinstance(details, str) else details) == DETAILS
    finally:
        engine.dispose()
