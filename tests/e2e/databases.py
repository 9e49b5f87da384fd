"""Fresh PostgreSQL databases for a production-profile stack, dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"


@contextmanager
def fresh_databases(*prefixes: str) -> Iterator[tuple[str, ...]]:
    """One new database per prefix (`trackers`, `store` …), named uniquely."""
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    names = tuple(f"{prefix}_{uuid.uuid4().hex[:10]}" for prefix in prefixes)
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield names
    finally:
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
