"""The store as a real process (`python -m backend`): clean shutdown on SIGTERM during a
burst, private data files, an access log without identities, the maintenance commands."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text
from sqlalchemy.engine import make_url
from store_helpers import (
    ID_NUMBER,
    PHONE,
    SERVICE_HEADERS,
    SERVICE_TOKEN,
    STAFF_TOKEN,
    application_body,
)

from backend.crypto import FieldCipher
from backend.db import create_sync_engine
from backend.keys import ENCRYPTED_COLUMNS
from backend.models import Application
from personaldata.masks import pseudonym
from scripts.id_numbers import resident_id_number
from tests.servers import ROOT, free_port, wait_for

HASH_KEY = "hash-key-for-process-tests-0123"
# Generous, so that it is no timing test: a store ignoring SIGTERM took > 15 s.
SHUTDOWN_BOUND_SECONDS = 10


@dataclass
class StoreProcess:
    process: subprocess.Popen
    url: str
    log: Path
    database_url: str


def store_environment(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "STORE_SERVICE_TOKEN": SERVICE_TOKEN,
        "STORE_STAFF_TOKEN": STAFF_TOKEN,
        "STORE_HASH_KEY": HASH_KEY,
        "STORE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "STORE_PROOF_MAX_FAILURES": "3",
        **extra,
    }


@pytest.fixture
def store_process(database_url: str, tmp_path: Path) -> Iterator[StoreProcess]:
    # SQLite: a file of its own, which this process never opens while the store runs.
    if make_url(database_url).get_backend_name() == "sqlite":
        database_url = f"sqlite:///{tmp_path}/process-store.db"
    port = free_port()
    env = store_environment(database_url)
    log = tmp_path / "store.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/health", process, log, timeout=60)
        yield StoreProcess(process, url, log, database_url)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def submit(
    session: aiohttp.ClientSession, url: str, key: str, id_number: str = ID_NUMBER
) -> aiohttp.ClientResponse:
    async with session.post(
        f"{url}/applications",
        json=application_body(conversation_id=f"rest:{key}", id_number=id_number),
        headers={**SERVICE_HEADERS, "Idempotency-Key": key},
    ) as response:
        await response.read()
        return response


async def burst_then_sigterm(store: StoreProcess) -> tuple[list[int], list[str], int]:
    """Lookups, searches and creates from many callers; SIGTERM once 40 have answered.

    Returns the statuses received, the tracking numbers created, and the requests that
    were cut off by the shutdown.
    """
    statuses: list[int] = []
    created: list[str] = []
    cut_off = 0
    enough_answered = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        number = (await (await submit(session, store.url, "first")).json())["tracking_number"]

        async def one(index: int) -> None:
            nonlocal cut_off
            try:
                if index % 3 == 0:
                    response = await submit(
                        session, store.url, f"burst-{index}", resident_id_number(index)
                    )
                    if response.status == 201:
                        created.append((await response.json())["tracking_number"])
                else:
                    path, body = (
                        ("/applications/lookup", {"tracking_number": number, "proof": "0000"})
                        if index % 3 == 1
                        else ("/applications/find", {"id_number": ID_NUMBER, "phone": PHONE})
                    )
                    async with session.post(
                        store.url + path,
                        json={**body, "conversation_id": f"rest:caller-{index}"},
                        headers=SERVICE_HEADERS,
                    ) as response:
                        await response.read()
                statuses.append(response.status)
                if len(statuses) >= 40:
                    enough_answered.set()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                cut_off += 1

        tasks = [asyncio.ensure_future(one(index)) for index in range(600)]
        await enough_answered.wait()
        store.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*tasks)
    return statuses, created, cut_off


def test_sigterm_during_a_burst_stops_the_store_cleanly(store_process: StoreProcess) -> None:
    statuses, created, cut_off = asyncio.run(burst_then_sigterm(store_process))
    exit_code = store_process.process.wait(timeout=SHUTDOWN_BOUND_SECONDS)
    assert exit_code == 0, store_process.log.read_text()[-3000:]
    assert len(statuses) >= 40 and cut_off > 0
    assert 500 not in statuses
    assert set(statuses) <= {200, 201, 404, 429, 503}
    # Whatever was confirmed is stored whole: the application and its first history entry.
    engine = create_sync_engine(store_process.database_url)
    try:
        with engine.connect() as connection:
            stored = {
                number
                for (number,) in connection.execute(
                    text(
                        "SELECT a.tracking_number FROM applications a "
                        "JOIN status_history h ON h.application_id = a.id"
                    )
                )
            }
    finally:
        engine.dispose()
    assert set(created) <= stored


def test_files_are_private_and_the_access_log_holds_no_identity(
    store_process: StoreProcess,
) -> None:
    openid = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"

    async def ask() -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{store_process.url}/applications",
                params={"conversation_id": f"wechat:{openid}"},
                headers=SERVICE_HEADERS,
            ) as response,
        ):
            return response.status

    assert asyncio.run(ask()) == 200
    store_process.process.send_signal(signal.SIGTERM)
    assert store_process.process.wait(timeout=SHUTDOWN_BOUND_SECONDS) == 0
    log = store_process.log.read_text()
    assert openid not in log
    assert pseudonym(openid) in log or pseudonym(f"wechat:{openid}") in log

    url = make_url(store_process.database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database)
        for path in (database, *database.parent.glob(database.name + "-*")):
            assert path.stat().st_mode & 0o777 == 0o600, path


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    env = store_environment(f"sqlite:///{database}", STORE_RETENTION_DAYS="3650")
    result = subprocess.run(
        [sys.executable, "-m", "backend", "purge"], cwd=ROOT, env=env, capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert "purge: 0 closed applications anonymised" in result.stderr.decode()
    for path in (database, *tmp_path.glob("store.db-*")):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_purge_keeps_everything_until_a_period_is_set(tmp_path: Path) -> None:
    env = store_environment(f"sqlite:///{tmp_path}/store.db")
    result = subprocess.run(
        [sys.executable, "-m", "backend", "purge"], cwd=ROOT, env=env, capture_output=True
    )
    assert result.returncode == 0
    assert "STORE_RETENTION_DAYS is not set, applications are kept" in result.stderr.decode()


def test_the_rotate_keys_command_leaves_only_the_newest_key_needed(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = FieldCipher(old_key, HASH_KEY)
    env = store_environment(f"sqlite:///{database}", STORE_ENCRYPTION_KEY=old_key)
    # On an empty database the command only migrates it.
    subprocess.run([sys.executable, "-m", "backend", "rotate-keys"], cwd=ROOT, env=env, check=True)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO applications (tracking_number, service_type, applicant_name_enc,"
            " id_number_enc, id_number_hash, phone_enc, phone_hash, township, details_enc,"
            " channel, conversation_id, status, idempotency_key, request_fingerprint,"
            " created_at, status_changed_at) VALUES ('DA202611300001', 'elderly_card', ?, ?,"
            " 'h', ?, 'h', '牛佛镇', ?, 'rest', 'rest:c', 'submitted', 'k', 'f',"
            " '2026-11-30 01:00:00', '2026-11-30 01:00:00')",
            (old.encrypt("王秀英"), old.encrypt(ID_NUMBER), old.encrypt(PHONE), old.encrypt("{}")),
        )
    rotation = subprocess.run(
        [sys.executable, "-m", "backend", "rotate-keys"],
        cwd=ROOT,
        env={**env, "STORE_ENCRYPTION_KEY": f"{new_key},{old_key}"},
        capture_output=True,
    )
    assert rotation.returncode == 0, rotation.stderr.decode()[-2000:]
    assert "1 rows re-encrypted" in rotation.stderr.decode()
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            f"SELECT {', '.join(ENCRYPTED_COLUMNS[Application])} FROM applications"
        ).fetchone()
    new = FieldCipher(new_key, HASH_KEY)
    assert [new.decrypt(token) for token in row] == ["王秀英", ID_NUMBER, PHONE, "{}"]
    with pytest.raises(InvalidToken):
        old.decrypt(row[0])
