"""A real database outage: a private PostgreSQL cluster is stopped under the running store
and started again. /health says 503, requests get a clear 503, and both recover."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet
from store_helpers import (
    PHONE,
    SERVICE_HEADERS,
    SERVICE_TOKEN,
    STAFF_TOKEN,
    FakeClock,
    application_body,
    create,
    lookup,
    start_client,
)

from backend.config import Settings
from tests.servers import free_port

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


@dataclass
class Cluster:
    data: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, f"{PG_BIN[-1]}/pg_ctl", "-D", str(self.data), "-w", *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self.ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not PG_BIN:
        pytest.fail("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="store-outage-"))
    # initdb refuses to run as root: the cluster then belongs to the postgres account.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    subprocess.run(
        [*as_user, f"{PG_BIN[-1]}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    running = Cluster(data, free_port(), as_user)
    running.start()
    try:
        yield running
    finally:
        subprocess.run(
            [*as_user, f"{PG_BIN[-1]}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.asyncio
async def test_the_store_says_503_while_its_database_is_down_and_recovers(
    cluster: Cluster, clock: FakeClock
) -> None:
    settings = Settings(
        database_url=cluster.url,
        service_token=SERVICE_TOKEN,
        staff_token=STAFF_TOKEN,
        encryption_key=Fernet.generate_key().decode(),
        hash_key="hash-key-for-outage-tests-0123",
    )
    client: TestClient = await start_client(settings, clock)
    try:
        number = (await create(client))["tracking_number"]
        assert (await client.get("/health")).status == 200

        cluster.stop()
        health = await client.get("/health")
        assert health.status == 503
        assert await health.json() == {"status": "unavailable", "database": "error"}
        for response in (
            await lookup(client, number, PHONE),
            await client.post(
                "/applications",
                json=application_body(),
                headers={**SERVICE_HEADERS, "Idempotency-Key": "outage-key"},
            ),
        ):
            assert response.status == 503
            assert (await response.json())["error"] == "database_unavailable"

        cluster.start()
        assert (await client.get("/health")).status == 200
        assert (await lookup(client, number, PHONE)).status == 200
    finally:
        await client.close()
