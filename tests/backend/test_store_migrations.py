"""Migrations on databases holding applications from before them, on SQLite and
PostgreSQL: 0002 encrypts details with the store's key, nothing lost; 0003 kept the
open duplicates it found and refused new ones; 0004 accepts them again, each flagged
with the oldest open application of the person and service."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
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


# (tracking number, service, keyed hash of the ID number, status) of a database from
# before migration 0003: one person applied for the elderly card three times.
BEFORE_0003 = [
    ("DA202611300001", "elderly_card", "mother", "withdrawn"),
    ("DA202611300002", "elderly_card", "mother", "township_review"),
    ("DA202611300003", "elderly_card", "mother", "submitted"),
    ("DA202611300004", "temporary_relief", "mother", "submitted"),
    ("DA202611300005", "elderly_card", "neighbour", "submitted"),
    ("DA202611300006", "elderly_card", "mother", "returned"),
]


def insert_application(
    connection: Connection, number: str, service: str, id_hash: str, status: str
) -> None:
    connection.execute(
        text(
            "INSERT INTO applications (tracking_number, service_type, applicant_name_enc,"
            " id_number_enc, id_number_hash, phone_enc, phone_hash, township, details_enc,"
            " channel, conversation_id, status, idempotency_key, request_fingerprint,"
            " created_at, status_changed_at) VALUES (:number, :service, 'n', 'i', :hash, 'p',"
            " 'h', '牛佛镇', 'd', 'wechat', 'wechat:o1', :status, :number, 'f',"
            " :created, :created)"
        ),
        {
            "number": number,
            "service": service,
            "hash": id_hash,
            "status": status,
            "created": f"2026-11-30 01:00:{number[-2:]}",
        },
    )


def test_duplicates_from_before_0003_are_kept_and_new_ones_refused(
    empty_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    command.upgrade(alembic_config(empty_database), "0002")
    engine = create_sync_engine(empty_database)
    try:
        with engine.begin() as connection:
            for row in BEFORE_0003:
                insert_application(connection, *row)
        with caplog.at_level(logging.WARNING, logger="backend.migrations"):
            command.upgrade(alembic_config(empty_database), "0003")
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT tracking_number, status, legacy_duplicate FROM applications"
                    " ORDER BY tracking_number"
                )
            ).all()
        # Nothing changed but the mark on the later open duplicates of the oldest one.
        assert [(number, status, bool(mark)) for number, status, mark in rows] == [
            ("DA202611300001", "withdrawn", False),
            ("DA202611300002", "township_review", False),
            ("DA202611300003", "submitted", True),
            ("DA202611300004", "submitted", False),
            ("DA202611300005", "submitted", False),
            ("DA202611300006", "returned", True),
        ]
        assert "DA202611300002, DA202611300003, DA202611300006" in caplog.text
        assert "mother" not in caplog.text

        with pytest.raises(IntegrityError), engine.begin() as connection:
            insert_application(connection, "DA202611300007", "elderly_card", "mother", "submitted")
        with engine.begin() as connection:  # closed ones are not counted
            insert_application(connection, "DA202611300008", "elderly_card", "mother", "rejected")

        command.downgrade(alembic_config(empty_database), "0002")
        columns = {column["name"] for column in inspect(engine).get_columns("applications")}
        assert "legacy_duplicate" not in columns
        with engine.begin() as connection:
            insert_application(connection, "DA202611300009", "elderly_card", "mother", "submitted")
    finally:
        engine.dispose()


def flags(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT tracking_number, possible_duplicate_of FROM applications"
                    " ORDER BY tracking_number"
                )
            )
        ]


def test_0004_flags_open_duplicates_for_staff_and_accepts_new_ones(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "0002")
    engine = create_sync_engine(empty_database)
    try:
        with engine.begin() as connection:
            for row in BEFORE_0003:
                insert_application(connection, *row)
        command.upgrade(alembic_config(empty_database), "0003")  # marks 3 and 6
        upgrade_database(empty_database)
        # The marks of 0003 become the oldest open application's number; nothing else.
        assert flags(engine) == [
            ("DA202611300001", None),
            ("DA202611300002", None),
            ("DA202611300003", "DA202611300002"),
            ("DA202611300004", None),
            ("DA202611300005", None),
            ("DA202611300006", "DA202611300002"),
        ]
        columns = {column["name"] for column in inspect(engine).get_columns("applications")}
        assert "legacy_duplicate" not in columns
        indexes = {index["name"]: index for index in inspect(engine).get_indexes("applications")}
        assert "uq_applications_open_per_applicant" not in indexes
        lookup_index = indexes["ix_applications_service_type_id_number_hash"]
        assert lookup_index["column_names"] == ["service_type", "id_number_hash"]
        assert not lookup_index["unique"]
        with engine.begin() as connection:  # the database no longer refuses a second one
            insert_application(connection, "DA202611300007", "elderly_card", "mother", "submitted")

        command.downgrade(alembic_config(empty_database), "0003")
        with engine.connect() as connection:
            marked = connection.execute(
                text(
                    "SELECT tracking_number FROM applications WHERE legacy_duplicate"
                    " ORDER BY tracking_number"
                )
            ).scalars()
            assert list(marked) == ["DA202611300003", "DA202611300006", "DA202611300007"]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            insert_application(connection, "DA202611300008", "elderly_card", "mother", "submitted")
    finally:
        engine.dispose()
