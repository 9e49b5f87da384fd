"""The production profile's settings for a test stack: fresh PostgreSQL databases (dropped
after), Redis, and a signed REST integration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2

from tests.e2e.rest import RestClient

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


def production_environment(trackers: str, store: str, integration: RestClient) -> dict[str, str]:
    """Trackers and the store in PostgreSQL, locks and channel state in Redis, and the
    district's other system on the signed REST channel."""
    return {
        "TRACKER_DB_HOST": "127.0.0.1",
        "TRACKER_DB_PORT": "5432",
        "TRACKER_DB_NAME": trackers,
        "TRACKER_DB_USER": "postgres",
        "TRACKER_DB_PASSWORD": "",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "CHANNELS_REDIS_URL": "redis://127.0.0.1:6379/0",
        "REST_CLIENT_SECRETS": f"{integration.name}={integration.secret}",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{store}",
    }
