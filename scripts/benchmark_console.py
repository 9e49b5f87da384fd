"""Benchmark of the staff console on PostgreSQL: page times with 100,000 captured questions
and 50,000 applications, beside the same pages on an empty database (the baseline, same
run). Prints p50/p99 per page; figures also go to results/benchmark_console.json.

Run with the store's venv: `.venv-store/bin/python scripts/benchmark_console.py`
(`make benchmark` runs it after the assistant's benchmark). Needs the PostgreSQL of
`make test` (127.0.0.1:5432); it makes and drops a database of its own.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.api.common import STORE  # noqa: E402
from backend.app import create_app  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.console.accounts import Accounts  # noqa: E402
from backend.console.audit import Actor  # noqa: E402
from backend.crypto import FieldCipher  # noqa: E402
from backend.db import create_sync_engine, upgrade_database  # noqa: E402
from backend.inbox.grouping import shingles  # noqa: E402
from backend.models import (  # noqa: E402
    Application,
    InboxGroup,
    InboxItem,
    InboxShingle,
    StatusChange,
)
from backend.throttling import ThrottlePolicy  # noqa: E402
from scripts.id_numbers import resident_id_number  # noqa: E402

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
QUESTIONS = 100_000
APPLICATIONS = 50_000
GROUPS = 4_000
REQUESTS = 40
PAGES = {
    "inbox": "/console/inbox",
    "inbox, all states, one channel": "/console/inbox?state=all&channel=wechat",
    "inbox group": "/console/inbox/{group}",
    "dashboard (30 days)": "/console/dashboard",
    "applications": "/console/applications",
    "applications, overdue": "/console/applications?overdue=1",
}
TOPICS = ["低保", "老年证", "医保", "养老保险", "危房改造", "临时救助", "残疾证", "高龄津贴"]
ASKS = ["咋个办", "要带啥子", "在哪里办", "好久能办好", "每个月好多钱", "哪些人能申请"]
TOWNSHIPS = ["牛佛镇", "何市镇", "大安街道", "龙井街道", "回龙镇", None]
SERVICES = ["elderly_card", "subsistence_allowance", "housing_renovation", "temporary_relief"]
STATUSES = ["submitted", "township_review", "district_review", "approved", "returned"]
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def fresh_database(name: str) -> str:
    connection = psycopg2.connect(ADMIN_DSN)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    connection = psycopg2.connect(ADMIN_DSN)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    connection.close()


def settings_for(url: str) -> Settings:
    return Settings(
        database_url=url,
        service_token="benchmark-service-token-0123",
        staff_token="benchmark-staff-token-01234",
        encryption_key=Fernet.generate_key().decode(),
        hash_key="benchmark-hash-key-0123456789",
    )


def fill(settings: Settings) -> int:
    """Questions in groups, and applications, as a year of use might leave them."""
    cipher = FieldCipher(settings.encryption_key, settings.hash_key)
    engine = create_sync_engine(settings.database_url)
    random_ = random.Random(2026)
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        groups = []
        for group_id in range(1, GROUPS + 1):
            text = f"{random_.choice(TOPICS)}{random_.choice(ASKS)}{group_id}"
            hashed = {cipher.keyed_hash("shingle", s)[:16] for s in shingles(text)}
            groups.append((group_id, text, hashed))
        connection.execute(
            insert(InboxGroup),
            [
                {
                    "id": group_id,
                    "shingle_count": len(hashed),
                    "state": "open" if group_id % 5 else "dismissed",
                    "created_at": now - timedelta(days=90),
                    "last_seen_at": now,
                }
                for group_id, _, hashed in groups
            ],
        )
        connection.execute(
            insert(InboxShingle),
            [{"group_id": g, "shingle": s} for g, _, hashed in groups for s in hashed],
        )
        token = cipher.encrypt("低保要带啥子材料嘛")  # one ciphertext: filling is not measured
        for start in range(0, QUESTIONS, 10_000):
            connection.execute(
                insert(InboxItem),
                [
                    {
                        "capture_id": uuid.uuid4().hex,
                        "group_id": random_.randint(1, GROUPS),
                        "reason": random_.choice(["fallback", "clarified", "out_of_scope"]),
                        "channel": random_.choice(["wechat", "socketio", "rest"]),
                        "conversation_id": f"wechat:resident-{index % 20_000}",
                        "township": random_.choice(TOWNSHIPS),
                        "text_enc": token,
                        "reply_enc": token,
                        "intents": "[]",
                        "topics": '[{"name": "faq/subsistence_materials", "confidence": 0.3}]',
                        "top_label": random_.choice(["faq/subsistence_materials", "faq/x", None]),
                        "model": "benchmark",
                        "occurred_at": now - timedelta(minutes=random_.randint(0, 90 * 24 * 60)),
                        "received_at": now,
                    }
                    for index in range(start, start + 10_000)
                ],
            )
        name, phone, details = (cipher.encrypt(v) for v in ("王秀英", "13812345678", "{}"))
        ids = [resident_id_number(person) for person in range(200)]
        for start in range(0, APPLICATIONS, 10_000):
            rows = []
            for index in range(start, start + 10_000):
                created = now - timedelta(minutes=random_.randint(0, 365 * 24 * 60))
                id_number = ids[index % len(ids)]
                rows.append(
                    {
                        "id": index + 1,
                        # Unique: a made-up day per 9,999 applications, then the sequence.
                        "tracking_number": f"DA2026{index // 9999 + 1:04d}{index % 9999 + 1:04d}",
                        "service_type": random_.choice(SERVICES),
                        "applicant_name_enc": name,
                        "id_number_enc": cipher.encrypt(id_number),
                        "id_number_hash": cipher.keyed_hash("id_number", id_number),
                        "phone_enc": phone,
                        "phone_hash": cipher.keyed_hash("phone", "13812345678"),
                        "township": random_.choice(TOWNSHIPS[:-1]),
                        "details_enc": details,
                        "channel": "wechat",
                        "conversation_id": f"wechat:resident-{index}",
                        "status": random_.choice(STATUSES),
                        "idempotency_key": f"benchmark-{index}",
                        "request_fingerprint": "benchmark",
                        "created_at": created,
                        "status_changed_at": created,
                    }
                )
            connection.execute(insert(Application), rows)
            connection.execute(
                insert(StatusChange),
                [
                    {
                        "application_id": row["id"],
                        "from_status": None,
                        "to_status": "submitted",
                        "actor": "resident",
                        "changed_at": row["created_at"],
                    }
                    for row in rows
                ],
            )
    engine.dispose()
    return GROUPS // 2


async def measure(settings: Settings, group: int) -> dict[str, dict[str, float]]:
    app = create_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        store = app[STORE]
        accounts = Accounts(
            store.sessions, store.cipher, ThrottlePolicy.for_logins(settings), store.clock
        )
        await accounts.create("bench", "测试", "benchmark password", "admin", None,
                              Actor(None, "benchmark", None))  # fmt: skip
        page = await (await client.get("/console/login")).text()
        token = _CSRF.search(page).group(1)
        await client.post(
            "/console/login",
            data={"username": "bench", "password": "benchmark password", "csrf_token": token},
        )
        figures = {}
        for name, path in PAGES.items():
            path = path.format(group=group)
            times = []
            for _ in range(REQUESTS):
                started = time.perf_counter()
                response = await client.get(path)
                await response.read()
                times.append((time.perf_counter() - started) * 1000)
                assert response.status in (200, 404), (path, response.status)
            times.sort()
            figures[name] = {
                "p50_ms": round(statistics.median(times), 1),
                "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
            }
        return figures
    finally:
        await client.close()


def main() -> None:
    results = {}
    for label, filled in (
        ("empty database (baseline)", False),
        ("100k questions, 50k applications", True),
    ):
        name = f"console_bench_{uuid.uuid4().hex[:8]}"
        url = fresh_database(name)
        try:
            settings = settings_for(url)
            upgrade_database(url, settings.encryption_key)
            started = time.perf_counter()
            group = fill(settings) if filled else 1
            if filled:
                print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
            results[label] = asyncio.run(measure(settings, group))
        finally:
            drop_database(name)
    print(f"\n{'page':34} " + "  ".join(f"{label:>34}" for label in results))
    for page in PAGES:
        cells = [
            f"p50 {figures[page]['p50_ms']:7.1f} ms  p99 {figures[page]['p99_ms']:7.1f} ms"
            for figures in results.values()
        ]
        print(f"{page:34} " + "  ".join(f"{cell:>34}" for cell in cells))
    out = ROOT / "results" / "benchmark_console.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
