"""The action server's store client against a real store on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.fernet import Fernet

from backend.app import RunningServer, start_server
from backend.config import Settings
from bot.actions.store_client import (
    DEFAULT_URL,
    ApplicationStatus,
    StoreClient,
    StoreRejected,
    StoreUnavailable,
)
from tests.servers import free_port

TOKEN = "service-token-for-client-tests"
APPLICATION = {
    "service_type": "housing_renovation",
    "applicant_name": "张德华",
    "id_number": "510304195003150026",
    "phone": "13812345678",
    "township": "回龙镇",
    "details": {"house_grade": "D"},
    "channel": "socketio",
    "conversation_id": "sender-1",
}


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/store.db",
        service_token=TOKEN,
        staff_token="staff-token-for-client-tests",
        encryption_key=Fernet.generate_key().decode(),
        hash_key="hash-key-for-client-tests",
        proof_max_failures=2,
    )
    server = await start_server(settings, host="127.0.0.1", port=0)
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def client(store: RunningServer) -> AsyncIterator[StoreClient]:
    async with StoreClient(store.url, TOKEN) as store_client:
        yield store_client


@pytest.mark.asyncio
async def test_create_lookup_and_list(client: StoreClient) -> None:
    created = await client.create_application(**APPLICATION, idempotency_key="form-1")
    assert created.tracking_number.startswith("DA")
    assert created.replayed is False
    again = await client.create_application(**APPLICATION, idempotency_key="form-1")
    assert again.tracking_number == created.tracking_number
    assert again.replayed is True

    status = await client.lookup(created.tracking_number.lower(), "0026", "sender-1")
    assert isinstance(status, ApplicationStatus)
    assert status.status == "submitted"
    assert status.status_label == "已提交"
    assert (status.applicant_name, status.id_number, status.phone) == (
        "张*华",
        "5103**********0026",
        "138****5678",
    )
    assert [entry.status for entry in status.history] == ["submitted"]

    assert await client.lookup(created.tracking_number, "9999", "sender-1") is None

    listing = await client.list_for_conversation("sender-1")
    assert [item.tracking_number for item in listing] == [created.tracking_number]
    assert listing[0].service_label == "农村危房改造"
    assert await client.list_for_conversation("someone-else") == []


@pytest.mark.asyncio
async def test_refusals_carry_the_store_code(client: StoreClient) -> None:
    with pytest.raises(StoreRejected) as error:
        await client.create_application(
            **{**APPLICATION, "id_number": "510304195003150027"}, idempotency_key="bad"
        )
    assert (error.value.status, error.value.code) == (400, "invalid_id_number")
    assert error.value.details == {"field": "id_number"}

    created = await client.create_application(**APPLICATION, idempotency_key="form-2")
    for _ in range(2):
        assert await client.lookup(created.tracking_number, "0000", "guesser") is None
    with pytest.raises(StoreRejected) as error:
        await client.lookup(created.tracking_number, "0026", "guesser")
    assert (error.value.status, error.value.code) == (429, "too_many_attempts")
    assert error.value.details["retry_after"] > 0


@pytest.mark.asyncio
async def test_wrong_token_is_rejected(store: RunningServer) -> None:
    async with StoreClient(store.url, "not-the-service-token") as client:
        with pytest.raises(StoreRejected) as error:
            await client.list_for_conversation("sender-1")
    assert (error.value.status, error.value.code) == (401, "unauthorized")


@pytest.mark.asyncio
async def test_connection_refused_is_unavailable() -> None:
    async with StoreClient(f"http://127.0.0.1:{free_port()}", TOKEN) as client:
        with pytest.raises(StoreUnavailable):
            await client.list_for_conversation("sender-1")


async def serve(handler: Callable[[web.Request], object]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.mark.asyncio
async def test_timeouts_and_server_errors_are_unavailable() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({"applications": []})

    async def failing(_request: web.Request) -> web.Response:
        return web.json_response({"error": "database_unavailable", "message": "x"}, status=503)

    async def not_json(_request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy error</html>", status=404)

    for handler, timeout in ((slow, 0.2), (failing, 5), (not_json, 5)):
        runner, url = await serve(handler)
        try:
            async with StoreClient(url, TOKEN, timeout_seconds=timeout) as client:
                with pytest.raises(StoreUnavailable):
                    await client.list_for_conversation("sender-1")
        finally:
            await runner.cleanup()


def test_configuration_from_environment() -> None:
    client = StoreClient.from_env({"STORE_SERVICE_TOKEN": TOKEN})
    assert client.base_url == DEFAULT_URL
    assert client.timeout_seconds == 5
    client = StoreClient.from_env(
        {
            "STORE_SERVICE_TOKEN": TOKEN,
            "STORE_URL": "http://store:5100/",
            "STORE_TIMEOUT_SECONDS": "1.5",
        }
    )
    assert client.base_url == "http://store:5100"
    assert client.timeout_seconds == 1.5
    with pytest.raises(ValueError, match="STORE_SERVICE_TOKEN"):
        StoreClient.from_env({})
