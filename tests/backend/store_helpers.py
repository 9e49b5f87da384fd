"""Constants and request helpers shared by the status-store tests."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import psycopg2
import yaml
from aiohttp.test_utils import TestClient, TestServer

from backend.app import OPENAPI_PATH, create_app
from backend.config import Settings

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
SERVICE_TOKEN = "service-token-for-tests-0123456789"
STAFF_TOKEN = "staff-token-for-tests-0123456789"
TRAINER_TOKEN = "trainer-token-for-tests-0123456789"
SERVICE_HEADERS = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
STAFF_HEADERS = {"Authorization": f"Bearer {STAFF_TOKEN}"}
MAX_FAILURES = 3
WINDOW_SECONDS = 86400
BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 60

# Valid numbers: 大安区 (510304) applicants born before 1983 included on purpose.
ID_NUMBER = "510304196211081234"
ID_NUMBER_2 = "510304195003150026"
PHONE = "13812345678"
PHONE_2 = "13987654321"
NAME = "王秀英"
PRIVACY_NOTICE = "2026-11"
# Details each service requires (backend/openapi.yaml).
DETAILS = {
    "elderly_card": {},
    "subsistence_allowance": {"household_size": 3},
    "housing_renovation": {"house_condition": "墙体开裂，屋顶漏雨"},
    "temporary_relief": {"incident": "家中失火，衣物被烧毁"},
}

# Emptied before each test, children first.
TABLES = (
    "training_runs",
    "model_events",
    "trained_models",
    "knowledge_answers",
    "turn_counts",
    "turn_batches",
    "rectifications",
    "ratings",
    "handoff_messages",
    "handoffs",
    "audit_log",
    "staff_accounts",
    "notifications",
    "inbox_items",
    "inbox_shingles",
    "inbox_groups",
    "status_history",
    "applications",
    "tracking_counters",
    "proof_failures",
)

SPEC = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))


def assert_matches_schema(instance: Any, schema_name: str) -> None:
    schema = {**SPEC["components"]["schemas"][schema_name], "components": SPEC["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


def application_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_type": "elderly_card",
        "applicant_name": NAME,
        "id_number": ID_NUMBER,
        "phone": PHONE,
        "township": "牛佛镇",
        "details": {},
        "channel": "rest",
        "conversation_id": "rest:conv-1",
        "privacy_notice": PRIVACY_NOTICE,
    }
    if "service_type" in overrides and "details" not in overrides:
        body["details"] = DETAILS.get(overrides["service_type"], {})
    body.update(overrides)
    body["conversation_id"] = conversation(body["conversation_id"])
    return body


def capture_body(text_: str = "我家猫跑了咋个办", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "capture_id": uuid.uuid4().hex,
        "reason": "fallback",
        "channel": "rest",
        # A resident of their own each time: questions of one conversation minutes apart
        # are grouped as rephrasings (backend/inbox/grouping.py).
        "conversation_id": f"rest:default:{uuid.uuid4().hex[:12]}",
        "text": text_,
        "occurred_at": "2026-12-01T10:00:00+08:00",
        "intents": [
            {"name": "nlu_fallback", "confidence": 0.4},
            {"name": "faq", "confidence": 0.3},
        ],
        "topics": [{"name": "faq/subsistence_apply", "confidence": 0.2}],
        "model": "20261201-abc",
        "reply": "不好意思，我没太听明白。",
    }
    body.update(overrides)
    return body


def conversation(name: str) -> str:
    """A conversation id as the REST channel names them; ids with a channel stay as given."""
    return name if ":" in name else f"rest:{name}"


class FakeClock:
    """A settable clock, so throttling windows can pass without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def start_client(settings: Settings, clock: FakeClock) -> TestClient:
    client = TestClient(TestServer(create_app(settings, clock=clock)))
    await client.start_server()
    return client


async def create(client: TestClient, key: str = "key-1", **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/applications",
        json=application_body(**overrides),
        headers={**SERVICE_HEADERS, "Idempotency-Key": key},
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def lookup(
    client: TestClient, tracking_number: str, proof: str, conversation_id: str = "conv-1"
) -> Any:
    return await client.post(
        "/applications/lookup",
        json={
            "tracking_number": tracking_number,
            "proof": proof,
            "conversation_id": conversation(conversation_id),
        },
        headers=SERVICE_HEADERS,
    )


async def transition(
    client: TestClient, tracking_number: str, status: str, note: str | None = None
) -> Any:
    body: dict[str, Any] = {"status": status, "actor": "李科员"}
    if note is not None:
        body["note"] = note
    return await client.post(
        f"/staff/applications/{tracking_number}/transitions", json=body, headers=STAFF_HEADERS
    )


async def withdraw(
    client: TestClient,
    tracking_number: str,
    conversation_id: str = "conv-1",
    proof: str | None = None,
) -> Any:
    body = {"conversation_id": conversation(conversation_id)}
    if proof is not None:
        body["proof"] = proof
    return await client.post(
        f"/applications/{tracking_number}/withdraw", json=body, headers=SERVICE_HEADERS
    )


async def find(
    client: TestClient, id_number: str, phone: str, conversation_id: str = "conv-1"
) -> Any:
    return await client.post(
        "/applications/find",
        json={
            "id_number": id_number,
            "phone": phone,
            "conversation_id": conversation(conversation_id),
        },
        headers=SERVICE_HEADERS,
    )


def sqlite_file_bytes(database: str) -> bytes:
    """The database file and its write-ahead log, byte for byte, read by another process:
    closing a descriptor this process opened on the file would drop the POSIX locks of
    its open connections, and another process could then corrupt the database."""
    paths = [str(path) for path in (Path(database), Path(database + "-wal")) if path.exists()]
    return subprocess.run(["cat", *paths], check=True, capture_output=True).stdout


@contextmanager
def new_postgresql_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database on the machine's PostgreSQL, dropped after."""
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
