"""Fixtures for the status-store tests: every API test runs on SQLite and on PostgreSQL.

PostgreSQL is expected at 127.0.0.1:5432 (trust auth, user postgres). If it is not
reachable the PostgreSQL variants fail: a silently skipped backend is an untested one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg2
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    MAX_FAILURES,
    SERVICE_TOKEN,
    STAFF_TOKEN,
    TABLES,
    TRAINER_TOKEN,
    WINDOW_SECONDS,
    FakeClock,
    new_postgresql_database,
    start_client,
)

from backend.config import Settings
from backend.db import create_sync_engine, upgrade_database


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store')}/store.db"


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    try:
        with new_postgresql_database("store_test") as url:
            yield url
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc}")


@pytest.fixture(scope="session")
def sync_engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sync_engines: dict[str, Engine]) -> str:
    """A migrated, empty database of each kind."""
    url = request.getfixturevalue(f"{request.param}_url")
    if url not in sync_engines:
        upgrade_database(url)
        sync_engines[url] = create_sync_engine(url)
    with sync_engines[url].begin() as connection:
        for table in TABLES:
            connection.execute(text(f"DELETE FROM {table}"))
    return url


@pytest.fixture
def raw_db(database_url: str, sync_engines: dict[str, Engine]) -> Engine:
    """Direct access to the test database, bypassing the store."""
    return sync_engines[database_url]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        service_token=SERVICE_TOKEN,
        staff_token=STAFF_TOKEN,
        trainer_token=TRAINER_TOKEN,
        models_dir=tmp_path / "models",
        encryption_key=Fernet.generate_key().decode(),
        hash_key="hash-key-for-tests-0123456789",
        proof_max_failures=MAX_FAILURES,
        proof_window_seconds=WINDOW_SECONDS,
        proof_backoff_base_seconds=BACKOFF_BASE_SECONDS,
        proof_backoff_max_seconds=BACKOFF_MAX_SECONDS,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def client(settings: Settings, clock: FakeClock) -> AsyncIterator[TestClient]:
    test_client = await start_client(settings, clock)
    yield test_client
    await test_client.close()
