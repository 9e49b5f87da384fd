"""The action server's store client against a real store on loopback."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from bot.actions.store_client import (
    DEFAULT_URL,
    ApplicationStatus,
    ApplicationSummary,
    CircuitBreaker,
    StoreClient,
    StoreRejected,
    StoreUnavailable,
)
from tests.servers import StoreProcess, free_port, running_store

TOKEN = "service-token-for-client-tests"
APPLICATION = {
    "service_type": "housing_renovation",
    "applicant_name": "张德华",
    "id_number": "510304195003150026",
    "phone": "13812345678",
    "township": "回龙镇",
    "details": {"house_condition": "土墙房子墙裂了缝"},
    "channel": "socketio",
    "conversation_id": "socketio:sender-1",
    "privacy_notice": "2026-11",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreProcess]:
    with running_store(tmp_path, STORE_SERVICE_TOKEN=TOKEN, STORE_PROOF_MAX_FAILURES="2") as server:
        yield server


@pytest_asyncio.fixture
async def client(store: StoreProcess) -> AsyncIterator[StoreClient]:
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

    status = await client.lookup(created.tracking_number.lower(), "0026", "socketio:sender-1")
    assert isinstance(status, ApplicationStatus)
    assert status.status == "submitted"
    assert status.status_label == "已提交"
    assert (status.applicant_name, status.id_number, status.phone) == (
        "张*华",
        "5103**********0026",
        "138****5678",
    )
    assert [entry.status for entry in status.history] == ["submitted"]

    assert await client.lookup(created.tracking_number, "9999", "socketio:sender-1") is None

    listing = await client.list_for_conversation("socketio:sender-1")
    assert [item.tracking_number for item in listing] == [created.tracking_number]
    assert listing[0].service_label == "农村危房改造"
    assert await client.list_for_conversation("socketio:someone-else") == []


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
        assert await client.lookup(created.tracking_number, "0000", "socketio:guesser") is None
    with pytest.raises(StoreRejected) as error:
        await client.lookup(created.tracking_number, "0026", "socketio:guesser")
    assert (error.value.status, error.value.code) == (429, "too_many_attempts")
    assert error.value.details["retry_after"] > 0


@pytest.mark.asyncio
async def test_a_second_open_application_of_one_person_is_accepted_like_any_other(
    client: StoreClient,
) -> None:
    first = await client.create_application(**APPLICATION, idempotency_key="mother")
    # A relative applies again for the same person, from another conversation: the store
    # flags it for staff and answers as for any application.
    relative = {**APPLICATION, "phone": "13987654321", "conversation_id": "socketio:son"}
    second = await client.create_application(**relative, idempotency_key="son")
    assert second.tracking_number != first.tracking_number
    assert (second.status, second.replayed) == (first.status, False)
    # The first submission sent again is still its own application.
    again = await client.create_application(**APPLICATION, idempotency_key="mother")
    assert (again.tracking_number, again.replayed) == (first.tracking_number, True)


@pytest.mark.asyncio
async def test_withdraw(client: StoreClient) -> None:
    created = await client.create_application(**APPLICATION, idempotency_key="form-w")
    number = created.tracking_number

    with pytest.raises(StoreRejected) as error:
        await client.withdraw(number, "socketio:someone-else")
    assert (error.value.status, error.value.code) == (404, "not_found")

    # Typed as residents type it: quoted into the path, normalised by the store.
    typed = f"da {number[2:10]}-{number[10:]}".lower()
    status = await client.withdraw(typed, "socketio:another-channel", proof="+86 138 1234 5678")
    assert isinstance(status, ApplicationStatus)
    assert (status.tracking_number, status.status, status.status_label) == (
        number,
        "withdrawn",
        "已撤回",
    )
    assert status.history[-1].note == "居民撤回"
    assert status.phone == "138****5678"

    with pytest.raises(StoreRejected) as error:
        await client.withdraw(number, "socketio:sender-1")
    assert (error.value.status, error.value.code) == (409, "not_withdrawable")
    assert error.value.details["current_status"] == "withdrawn"
    assert error.value.details["current_status_label"] == "已撤回"


@pytest.mark.asyncio
async def test_withdraw_is_throttled(client: StoreClient) -> None:
    number = (await client.create_application(**APPLICATION, idempotency_key="f")).tracking_number
    for _ in range(2):
        with pytest.raises(StoreRejected) as error:
            await client.withdraw(number, "socketio:guesser", proof="0000")
        assert error.value.code == "not_found"
    with pytest.raises(StoreRejected) as error:
        await client.withdraw(number, "socketio:guesser", proof="0026")
    assert (error.value.status, error.value.code) == (429, "too_many_attempts")
    assert error.value.details["retry_after"] > 0
    # The guesser's failures never lock out the conversation that submitted it.
    withdrawn = await client.withdraw(number, "socketio:sender-1")
    assert withdrawn.status == "withdrawn"


@pytest.mark.asyncio
async def test_find_by_applicant(client: StoreClient) -> None:
    first = await client.create_application(**APPLICATION, idempotency_key="a")
    second = await client.create_application(
        **{
            **APPLICATION,
            "service_type": "temporary_relief",
            "details": {"incident": "家里失火了"},
        },
        idempotency_key="b",
    )
    found = await client.find_by_applicant(
        "510304195003150026", "138-1234-5678", "socketio:new-chat"
    )
    assert all(isinstance(item, ApplicationSummary) for item in found)
    assert [item.tracking_number for item in found] == [
        second.tracking_number,
        first.tracking_number,
    ]
    assert found[0].applicant_name == "张*华"

    assert await client.find_by_applicant("510304195003150026", "13900000000", "socketio:x") == []
    assert await client.find_by_applicant("510304195003150026", "13900000001", "socketio:y") == []
    with pytest.raises(StoreRejected) as error:
        await client.find_by_applicant("510304195003150026", "13812345678", "socketio:z")
    assert (error.value.status, error.value.code) == (429, "too_many_attempts")

    with pytest.raises(StoreRejected) as error:
        await client.find_by_applicant("510304195003150027", "13812345678", "socketio:z")
    assert (error.value.code, error.value.details) == ("invalid_id_number", {"field": "id_number"})


@pytest.mark.asyncio
async def test_wrong_token_is_rejected(store: StoreProcess) -> None:
    async with StoreClient(store.url, "not-the-service-token") as client:
        with pytest.raises(StoreRejected) as error:
            await client.list_for_conversation("socketio:sender-1")
    assert (error.value.status, error.value.code) == (401, "unauthorized")


async def every_call(client: StoreClient) -> None:
    """Each call of the client must raise StoreUnavailable."""
    calls = (
        functools.partial(client.list_for_conversation, "socketio:sender-1"),
        functools.partial(client.withdraw, "DA202611270001", "socketio:sender-1"),
        functools.partial(
            client.find_by_applicant, APPLICATION["id_number"], "13812345678", "socketio:x"
        ),
    )
    for call in calls:
        with pytest.raises(StoreUnavailable):
            await call()


@pytest.mark.asyncio
async def test_connection_refused_is_unavailable() -> None:
    async with StoreClient(f"http://127.0.0.1:{free_port()}", TOKEN) as client:
        await every_call(client)


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
                await every_call(client)
        finally:
            await runner.cleanup()


def test_configuration_from_environment() -> None:
    client = StoreClient.from_env({"STORE_SERVICE_TOKEN": TOKEN})
    assert client.base_url == DEFAULT_URL
    assert client.timeout_seconds == 3
    assert client.connect_timeout_seconds == 1
    assert (client.breaker.failures_to_open, client.breaker.cooldown_seconds) == (3, 15)
    client = StoreClient.from_env(
        {
            "STORE_SERVICE_TOKEN": TOKEN,
            "STORE_URL": "http://store:5100/",
            "STORE_TIMEOUT_SECONDS": "1.5",
            "STORE_BREAKER_FAILURES": "5",
            "STORE_BREAKER_COOLDOWN_SECONDS": "30",
        }
    )
    assert client.base_url == "http://store:5100"
    assert client.timeout_seconds == 1.5
    assert (client.breaker.failures_to_open, client.breaker.cooldown_seconds) == (5, 30)
    with pytest.raises(ValueError, match="STORE_SERVICE_TOKEN"):
        StoreClient.from_env({})


@pytest.mark.asyncio
async def test_find_by_key_tells_whether_a_create_went_through(client: StoreClient) -> None:
    """Asked after a create whose answer never came (issue 9, finding 4)."""
    assert await client.find_by_key("key-never-used", "socketio:sender-1") is None
    created = await client.create_application(**APPLICATION, idempotency_key="key-1")
    found = await client.find_by_key("key-1", "socketio:sender-1")
    assert found is not None
    assert (found.tracking_number, found.status) == (created.tracking_number, "submitted")
    # Another conversation learns nothing from a key, not even that it was used.
    assert await client.find_by_key("key-1", "socketio:someone-else") is None


@pytest.mark.asyncio
async def test_the_privacy_notice_shown_is_required(client: StoreClient) -> None:
    with pytest.raises(StoreRejected) as error:
        await client.create_application(
            **{**APPLICATION, "privacy_notice": ""}, idempotency_key="no-notice"
        )
    assert error.value.status == 400


class Clock:
    """A clock the test moves, so that the cool-down needs no waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_the_breaker_opens_after_consecutive_failures_and_then_fails_at_once(
    store: StoreProcess,
) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures_to_open=3, cooldown_seconds=15, clock=clock)
    async with StoreClient(f"http://127.0.0.1:{free_port()}", TOKEN, breaker=breaker) as client:
        for _ in range(2):
            with pytest.raises(StoreUnavailable, match="unreachable"):
                await client.list_for_conversation("socketio:sender-1")
        assert breaker.state == "closed"
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await client.list_for_conversation("socketio:sender-1")
        assert breaker.state == "open"

        # The store is up again, but while the breaker is open it is not even asked.
        client.base_url = store.url
        with pytest.raises(StoreUnavailable, match="circuit open"):
            await client.list_for_conversation("socketio:sender-1")
        clock.now += 14.9
        with pytest.raises(StoreUnavailable, match="circuit open"):
            await client.list_for_conversation("socketio:sender-1")

        # After the cool-down one probe goes through; its success closes the breaker.
        clock.now += 0.1
        assert await client.list_for_conversation("socketio:sender-1") == []
        assert breaker.state == "closed"


@pytest.mark.asyncio
async def test_a_failed_probe_opens_the_breaker_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures_to_open=2, cooldown_seconds=10, clock=clock)
    async with StoreClient(f"http://127.0.0.1:{free_port()}", TOKEN, breaker=breaker) as client:
        for _ in range(2):
            with pytest.raises(StoreUnavailable, match="unreachable"):
                await client.list_for_conversation("socketio:sender-1")
        clock.now += 10
        assert breaker.state == "half-open"
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await client.list_for_conversation("socketio:sender-1")  # the probe
        assert breaker.state == "open"
        with pytest.raises(StoreUnavailable, match="circuit open"):
            await client.list_for_conversation("socketio:sender-1")


def test_only_one_probe_at_a_time() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures_to_open=1, cooldown_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    breaker.before_call()  # the probe
    with pytest.raises(StoreUnavailable, match="circuit open"):
        breaker.before_call()  # everyone else while the probe is out
    breaker.abandoned()  # the probe was cancelled: another may try
    breaker.before_call()
    breaker.succeeded()
    assert breaker.state == "closed"


@pytest.mark.asyncio
async def test_refusals_are_answers_and_do_not_open_the_breaker(store: StoreProcess) -> None:
    breaker = CircuitBreaker(failures_to_open=2, cooldown_seconds=60)
    async with StoreClient(store.url, "not-the-service-token", breaker=breaker) as client:
        for _ in range(3):
            with pytest.raises(StoreRejected):
                await client.list_for_conversation("socketio:sender-1")
    assert breaker.state == "closed"


@pytest.mark.asyncio
async def test_failures_must_be_consecutive(store: StoreProcess) -> None:
    breaker = CircuitBreaker(failures_to_open=2, cooldown_seconds=60)
    async with StoreClient(store.url, TOKEN, breaker=breaker) as client:
        live = client.base_url
        for _ in range(3):
            client.base_url = f"http://127.0.0.1:{free_port()}"
            with pytest.raises(StoreUnavailable):
                await client.list_for_conversation("socketio:sender-1")
            client.base_url = live
            assert await client.list_for_conversation("socketio:sender-1") == []
    assert breaker.state == "closed"
