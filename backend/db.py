"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL.

Connections: every request path of the store uses one session and holds at most one
connection at a time (backend/store.py), so the pool cannot deadlock on itself. PostgreSQL
gets a pool of STORE_DB_POOL_SIZE connections; SQLite gets one connection per process:
SQLite has a single writer anyway, and requests queued on the pool wait in order instead
of polling SQLite's busy handler. A request waits at most STORE_DB_TIMEOUT_SECONDS for a
connection, a connect or a lock, then gets a 503.
"""

from __future__ import annotations

import contextlib
import os
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, create_engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import AsyncAdaptedQueuePool

try:  # SQLAlchemy 2
    from sqlalchemy.ext.asyncio import async_sessionmaker
except ImportError:  # SQLAlchemy 1.4
    async_sessionmaker = partial(sessionmaker, class_=AsyncSession)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg2"}
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    backend = "postgresql" if backend == "postgres" else backend
    return parsed.set(drivername=drivers[backend])


def sync_url(url: str) -> URL:
    return _with_driver(url, _SYNC_DRIVERS)


def async_url(url: str) -> URL:
    return _with_driver(url, _ASYNC_DRIVERS)


DEFAULT_TIMEOUT_SECONDS = 5.0
PRIVATE_FILE_MODE = 0o600


def _prepare_sqlite(url: URL) -> None:
    """The folder, and the database file readable by its owner only.

    SQLite creates the -wal and -shm files with the mode of the database file, so
    creating it 0600 here (and tightening one created before) covers all three.
    """
    path = Path(url.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Only a new file is opened here: closing a descriptor of a database this process
    # already has open would drop its POSIX locks, and other processes could then write
    # at the same time and corrupt it.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))):
        if file.exists():
            file.chmod(PRIVATE_FILE_MODE)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, timeout_seconds: float) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Writers of other processes (another instance, a migration, `purge`) wait for the
    # lock instead of failing at once.
    cursor.execute(f"PRAGMA busy_timeout={int(timeout_seconds * 1000)}")
    # Safe with WAL (a power loss may lose the last commits, never corrupt the file).
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten personal data is zeroed, not left in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_explicit_transactions(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite only opens transactions before DML, so DDL would run outside them and a
    # migration interrupted halfway (batch mode copies whole tables) would be left
    # half-applied. The driver's own handling is switched off and "begin" below is used.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: two instances starting at once migrate
    # one after the other instead of failing on a lock upgrade.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _listen_sqlite(engine: Engine, timeout_seconds: float) -> None:
    event.listen(engine, "connect", partial(_sqlite_pragmas, timeout_seconds=timeout_seconds))
    event.listen(engine, "connect", _sqlite_explicit_transactions)
    event.listen(engine, "begin", _sqlite_begin)


def create_sync_engine(url: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> Engine:
    """The engine migrations and the maintenance commands use."""
    target = sync_url(url)
    # Parameters would put ciphertexts and free-text details into exception messages.
    engine = create_engine(target, future=True, hide_parameters=True)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite(target)
        _listen_sqlite(engine, timeout_seconds)
    return engine


def create_async_db_engine(
    url: str, *, pool_size: int = 5, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> AsyncEngine:
    """The app's engine, its pool sized and timed as the module docstring says."""
    target = async_url(url)
    options: dict[str, Any] = {
        "hide_parameters": True,
        "pool_timeout": timeout_seconds,
        "max_overflow": 0,
    }
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite(target)
        # SQLAlchemy 1.4 defaults aiosqlite files to NullPool: a new connection, thread
        # and set of pragmas for every request.
        options.update(poolclass=AsyncAdaptedQueuePool, pool_size=1)
    else:
        options.update(
            pool_size=pool_size,
            pool_pre_ping=True,
            connect_args={"timeout": timeout_seconds},
        )
    engine = create_async_engine(target, **options)
    if target.get_backend_name() == "sqlite":
        # Deferred transactions, unlike migrations: with one connection per process the
        # store's own requests never compete for SQLite's lock.
        event.listen(
            engine.sync_engine,
            "connect",
            partial(_sqlite_pragmas, timeout_seconds=timeout_seconds),
        )
    return engine


def session_factory(engine: AsyncEngine) -> Any:
    # Handlers read attributes after commit; expiring them would need another query.
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str, encryption_key: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as attributes, not ini options: ini interpolation would mangle the "%"
    # of URL-encoded passwords, and keys do not belong in a config file.
    config.attributes["database_url"] = url
    if encryption_key:
        config.attributes["encryption_key"] = encryption_key
    return config


def upgrade_database(url: str, encryption_key: str | None = None) -> None:
    """Apply all migrations; a no-op when the schema is current.

    Migrations that encrypt existing data need the key (STORE_ENCRYPTION_KEY).
    """
    command.upgrade(alembic_config(url, encryption_key), "head")
