"""The production profile: conversations in PostgreSQL, locks in Redis, the store on
PostgreSQL — the same code as the embedded default, configured by environment only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import redis

from tests.conftest import ROOT
from tests.e2e.rest import Resident, tracking_number_in
from tests.servers import Stack, running_stack

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    names = (f"trackers_{uuid.uuid4().hex[:10]}", f"store_{uuid.uuid4().hex[:10]}")
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


@pytest.fixture(scope="module")
def production(
    model_path: Path, databases: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    trackers, store = databases
    env = {
        "TRACKER_DB_HOST": "127.0.0.1",
        "TRACKER_DB_PORT": "5432",
        "TRACKER_DB_NAME": trackers,
        "TRACKER_DB_USER": "postgres",
        "TRACKER_DB_PASSWORD": "",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{store}",
    }
    folder = tmp_path_factory.mktemp("production")
    with running_stack(
        folder, model_path, "connectors.rest.RestInput:\n", env, ROOT / "endpoints.production.yml"
    ) as stack:
        yield stack


def count(database: str, sql: str, value: str) -> int:
    with psycopg2.connect(f"host=127.0.0.1 user=postgres dbname={database}") as connection:
        cursor = connection.cursor()
        cursor.execute(sql, (value,))
        return cursor.fetchone()[0]


def redis_commands() -> int:
    return redis.Redis(host="127.0.0.1", port=6379).info("stats")["total_commands_processed"]


def test_an_application_is_kept_in_postgresql_with_redis_locks(
    production: Stack, databases: tuple[str, str]
):
    trackers, store = databases
    commands_before = redis_commands()
    resident = Resident(production)
    for text in ["我要办老年证", "王秀英", "510304195503120042", "13812345678", "牛佛"]:
        resident.say(text)
    tracking_number = tracking_number_in(resident.say("对的"))

    events = "SELECT count(*) FROM events WHERE sender_id = %s"
    assert count(trackers, events, resident.sender) > 10
    applications = "SELECT count(*) FROM applications WHERE tracking_number = %s"
    assert count(store, applications, tracking_number) == 1
    # Each of the six messages took and released a conversation lock in Redis.
    assert redis_commands() - commands_before >= 6 * 2
