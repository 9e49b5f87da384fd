"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, create_engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import AsyncAdaptedQueuePool

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


def _prepare_sqlite(url: URL) -> None:
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Concurrent writers wait for the lock instead of failing at once.
    cursor.execute("PRAGMA busy_timeout=5000")
    # Safe with WAL (a power loss may lose the last commits, never corrupt the file).
    cursor.execute("PRAGMA synchronous=NORMAL")
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


def create_sync_engine(url: str) -> Engine:
    """The engine migrations use; the app itself runs on the async engine."""
    target = sync_url(url)
    # Parameters would put ciphertexts and free-text details into exception messages.
    engine = create_engine(target, future=True, hide_parameters=True)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite(target)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _sqlite_explicit_transactions)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def create_async_db_engine(url: str, **pool_options: Any) -> AsyncEngine:
    """The app's engine; `pool_options` (pool_size, pool_timeout...) go to its pool."""
    target = async_url(url)
    options: dict[str, Any] = {"hide_parameters": True}
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite(target)
        # SQLAlchemy 1.4 defaults aiosqlite files to NullPool: a new connection, thread
        # and set of pragmas for every request.
        options["poolclass"] = AsyncAdaptedQueuePool
    else:
        options["pool_pre_ping"] = True
    engine = create_async_engine(target, **options, **pool_options)
    if target.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> sessionmaker:
    # Handlers read attributes after commit; expiring them would need another query.
    return sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option: ini interpolation would mangle the "%"
    # of URL-encoded passwords.
    config.attributes["database_url"] = url
    return config


def upgrade_database(url: str) -> None:
    """Apply all migrations; a no-op when the schema is current."""
    command.upgrade(alembic_config(url), "head")
