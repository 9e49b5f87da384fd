"""Alembic environment: the URL comes from backend.db (programmatic) or DATABASE_URL (CLI)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from backend.config import database_url_from_env
from backend.db import create_sync_engine, sync_url
from backend.models import metadata

# Any constant works; it only has to be the same for every instance of the store.
MIGRATION_LOCK_KEY = 5103_0401

config = context.config
database_url = config.attributes.get("database_url") or database_url_from_env()


def run_offline() -> None:
    context.configure(
        url=sync_url(database_url),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            is_sqlite = connection.dialect.name == "sqlite"
            context.configure(
                connection=connection,
                target_metadata=metadata,
                # SQLite cannot ALTER most things; batch mode recreates tables instead.
                render_as_batch=is_sqlite,
                # SQLite's DDL is transactional once the driver stops interfering
                # (backend.db): a failed migration then leaves nothing behind.
                transactional_ddl=True if is_sqlite else None,
                compare_type=True,
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Several instances may start at once; the first migrates, the
                    # others wait and then find the schema current.
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
