"""Staff notices reach residents on their channel, from a real status store on loopback
(its own process and venv) through the channels on a real server, with the simulated
WeChat API: pushed through the customer-service API, given with the next message past
the 48-hour window, emitted live to a connected widget or when it connects again, put
before the answer on REST; outages of the WeChat API and of the store delay notices
and lose none. Rasa is the recording stand-in: the notices are the channels' work."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from rasa.core.channels.channel import register
from residents import rest_says, wechat_says
from sanic import Sanic
from test_webchat_channel import ALLOWED, SESSION_KEY, raw_socket
from wechat_harness import (
    APP_ID,
    APP_SECRET,
    RecordingRasa,
    StubAgent,
    eventually,
    make_channel,
    new_openid,
    serve_app,
)
from wechat_platform import SimulatedApi

from connectors.rest import OpenAccess, RestInput
from connectors.webchat import WebChatInput
from connectors.wechat.channel import WeChatInput
from connectors.wechat.identity import conversation_id
from rasa_runtime import notices, settings
from rasa_runtime.notices import NoticeStore, NoticeWords, NoticeWorker
from tests.servers import StoreProcess, free_port, running_store

ROOT = Path(__file__).resolve().parents[2]
WORDS = NoticeWords.load()
REPLY = "您好，低保申请请带户口本和身份证到牛佛镇便民服务中心。"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    # Retries after a second, so a recovery is seen without waiting long.
    with running_store(
        tmp_path_factory.mktemp("notices-store"),
        STORE_NOTICE_BACKOFF_BASE_SECONDS="1",
        STORE_NOTICE_BACKOFF_MAX_SECONDS="1",
    ) as running:
        yield running


def database(store: StoreProcess) -> sqlite3.Connection:
    return sqlite3.connect(store.stack.folder / "store.db", timeout=10)


@pytest.fixture(autouse=True)
def empty_outbox(store: StoreProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    with database(store) as connection:
        connection.execute("DELETE FROM notifications")
    # A failed look-up pauses the next ones for this long: none here.
    monkeypatch.setattr(settings, "NOTICE_POLL_SECONDS", 0.0)


async def add(store: StoreProcess, conversation: str, text: str, kind: str = "staff_reply") -> int:
    headers = {"Authorization": f"Bearer {store.stack.staff_token}"}
    body = {"conversation_id": conversation, "kind": kind, "text": text}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{store.url}/staff/notifications", json=body, headers=headers) as response,
    ):
        assert response.status == 201, await response.text()
        return (await response.json())["id"]


def state(store: StoreProcess, notice: int) -> tuple[str, int, str | None]:
    """(state, attempts, last error) of a notice, as the store keeps it."""
    with database(store) as connection:
        row = connection.execute(
            "SELECT state, attempts, last_error FROM notifications WHERE id = ?", (notice,)
        ).fetchone()
    return tuple(row)


@dataclass
class Assistant:
    """The three channels on one server, and the notice worker attached to them."""

    url: str
    wechat: WeChatInput
    webchat: WebChatInput
    worker: NoticeWorker
    http: aiohttp.ClientSession

    async def wechat_says(self, openid: str, text: str) -> str:
        return await wechat_says(self.http, self.url, openid, text)

    async def rest_says(self, sender: str, text: str) -> list[dict[str, Any]]:
        return await rest_says(self.http, self.url, sender, text)


@asynccontextmanager
async def assistant(
    store: StoreProcess, api_base: str | None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Assistant]:
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("WEBCHAT_SESSION_KEY", SESSION_KEY)
    wechat = make_channel(api_base=api_base)
    webchat = WebChatInput.from_credentials({"allowed_origins": ALLOWED})
    rest = RestInput(OpenAccess())
    app = Sanic(f"notices_{uuid.uuid4().hex[:12]}")
    app.ctx.agent = StubAgent(RecordingRasa())
    register([wechat, webchat, rest], app, route="/webhooks/")
    token = store.stack.env["STORE_SERVICE_TOKEN"]
    worker = NoticeWorker(
        NoticeStore(store.url, token, "test-replica"), WORDS, [wechat, webchat, rest]
    )
    async with serve_app(app) as url, aiohttp.ClientSession() as http:
        try:
            yield Assistant(url, wechat, webchat, worker, http)
        finally:
            await worker.close()
            await webchat.sio.shutdown()


@asynccontextmanager
async def wechat_api(port: int = 0) -> AsyncIterator[tuple[SimulatedApi, str]]:
    api = SimulatedApi(APP_ID, APP_SECRET)
    async with api.serving(port) as base:
        yield api, base


def test_every_kind_of_the_contract_has_its_words() -> None:
    spec = yaml.safe_load((ROOT / "backend" / "openapi.yaml").read_text(encoding="utf-8"))
    kinds = spec["components"]["schemas"]["NotificationKind"]["enum"]
    assert set(WORDS.templates) == set(kinds)
    assert WORDS.frame("handoff", "{稍等}") == "工作人员：{稍等}"


async def test_a_staff_reply_reaches_a_wechat_resident(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    openid = new_openid()
    async with wechat_api() as (api, base), assistant(store, base, monkeypatch) as running:
        notice = await add(store, conversation_id(openid), REPLY)
        assert await running.worker.deliver_due() == 1
        assert await api.next_message(openid) == f"工作人员回复您：{REPLY}"
        # Delivered once: another round sends nothing.
        assert await running.worker.deliver_due() == 0
    assert state(store, notice) == ("delivered", 0, None)
    assert [sent["touser"] for sent in api.sent] == [openid]


async def test_past_the_48_hour_window_the_notice_comes_with_the_next_message(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    openid = new_openid()
    async with wechat_api() as (api, base), assistant(store, base, monkeypatch) as running:
        notice = await add(
            store, conversation_id(openid), "您的低保申请已到区级审核。", "status_change"
        )
        api.reject_next_with = 45015
        await running.worker.deliver_due()
        # Waiting for the resident is no failed attempt.
        assert state(store, notice) == ("pending", 0, "window_closed")
        reply = await running.wechat_says(openid, "你好")
        assert await running.worker.deliver_due() == 0
    assert reply == "【办件进度】您的低保申请已到区级审核。\n\n收到：你好"
    assert state(store, notice)[0] == "delivered"
    assert api.sent == []


async def test_the_wechat_api_down_delays_a_notice_and_it_is_delivered_once(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    openid = new_openid()
    port = free_port()
    async with wechat_api(port) as (api, base):
        pass  # the API is down from here on
    async with assistant(store, base, monkeypatch) as running:
        notice = await add(store, conversation_id(openid), REPLY)
        await running.worker.deliver_due()
        assert state(store, notice) == ("pending", 1, "channel_unavailable")
        async with wechat_api(port) as (api, _):

            async def delivered() -> bool:
                await running.worker.deliver_due()
                return state(store, notice)[0] == "delivered"

            await eventually(delivered)
            assert await api.next_message(openid) == f"工作人员回复您：{REPLY}"
            await running.worker.deliver_due()
    assert state(store, notice) == ("delivered", 1, "channel_unavailable")
    assert len(api.sent) == 1


async def test_rest_gets_its_notices_before_the_answer_to_its_next_message(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with assistant(store, None, monkeypatch) as running:
        first = await add(store, "rest:case-17", REPLY)
        second = await add(store, "rest:case-17", "请为本次服务评价。", "rating_invite")
        other = await add(store, "rest:case-18", "不是给你的")
        # REST cannot push: the round leaves them waiting.
        assert await running.worker.deliver_due() == 0
        replies = await running.rest_says("case-17", "你好")
        again = await running.rest_says("case-17", "还在吗")
    assert [reply["text"] for reply in replies] == [
        f"工作人员回复您：{REPLY}",
        "请为本次服务评价。",
        "收到：你好",
    ]
    assert {reply["recipient_id"] for reply in replies} == {"case-17"}
    assert [reply["text"] for reply in again] == ["收到：还在吗"]
    assert [state(store, n)[0] for n in (first, second, other)] == [
        "delivered",
        "delivered",
        "pending",
    ]


async def test_a_connected_widget_gets_a_notice_live(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        assistant(store, None, monkeypatch) as running,
        raw_socket(running.url, ALLOWED) as widget,
    ):
        conversation = await widget.session()
        notice = await add(store, conversation, "您好，我是大安街道的小李。", "handoff")
        assert await running.worker.deliver_due() == 1
        assert await widget.receive("bot_uttered") == {
            "text": "工作人员：您好，我是大安街道的小李。"
        }
    assert state(store, notice)[0] == "delivered"


async def test_a_closed_widget_gets_its_notice_when_it_connects_again(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with assistant(store, None, monkeypatch) as running:
        async with raw_socket(running.url, ALLOWED) as widget:
            confirmed = await widget.confirm({"token": None})
        conversation = f"socketio:{confirmed['session_id']}"

        async def closed() -> bool:
            return conversation not in running.webchat.notice_reach()

        await eventually(closed)
        notice = await add(store, conversation, REPLY)
        # Not connected to this server: not claimed, so no lease keeps it from others.
        assert await running.worker.deliver_due() == 0
        assert state(store, notice) == ("pending", 0, None)
        async with raw_socket(running.url, ALLOWED) as widget:
            assert await widget.session(confirmed["token"]) == conversation
            assert await widget.receive("bot_uttered") == {"text": f"工作人员回复您：{REPLY}"}

            async def reported() -> bool:
                return state(store, notice)[0] == "delivered"

            # Reported after the emit, while the socket is still open.
            await eventually(reported)


async def test_the_store_down_delays_notices_and_loses_none(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    openid = new_openid()
    async with wechat_api() as (api, base), assistant(store, base, monkeypatch) as running:
        for_rest = await add(store, "rest:case-40", REPLY)
        for_wechat = await add(store, conversation_id(openid), REPLY)
        store.stop()
        try:
            # Residents are answered as usual; nothing is delivered or lost meanwhile.
            for _ in range(3):
                assert await running.worker.deliver_due() == 0
            assert [r["text"] for r in await running.rest_says("case-40", "你好")] == ["收到：你好"]
            assert await running.wechat_says(openid, "你好") == "收到：你好"
        finally:
            store.stack.start("store")
        replies = await running.rest_says("case-40", "在吗")
        assert await running.worker.deliver_due() == 1
        assert await api.next_message(openid) == f"工作人员回复您：{REPLY}"
    assert [r["text"] for r in replies] == [f"工作人员回复您：{REPLY}", "收到：在吗"]
    assert state(store, for_rest)[0] == state(store, for_wechat)[0] == "delivered"
    assert len(api.sent) == 1
    # The outage is logged once, not once a round.
    assert sum("none claimed" in record.getMessage() for record in caplog.records) == 1


async def test_the_worker_started_with_the_server_delivers_by_itself(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    openid = new_openid()
    monkeypatch.setenv(notices.TOKEN_VARIABLE, store.stack.env["STORE_SERVICE_TOKEN"])
    monkeypatch.setattr(settings, "STORE_URL", store.url)
    monkeypatch.setattr(settings, "NOTICE_POLL_SECONDS", 0.05)
    async with wechat_api() as (api, base):
        channel = make_channel(api_base=base)
        started = notices.start([channel])
        assert started is not None
        try:
            notice = await add(store, conversation_id(openid), REPLY)
            assert await api.next_message(openid) == f"工作人员回复您：{REPLY}"
        finally:
            await started.stop()
    assert state(store, notice)[0] == "delivered"


def test_without_the_store_token_notices_are_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(notices.TOKEN_VARIABLE, raising=False)
    assert notices.start([make_channel()]) is None


async def test_two_replicas_never_deliver_the_same_notice(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches: the two replicas' rounds interleave.
    monkeypatch.setattr(settings, "NOTICE_BATCH", 3)
    residents = [new_openid() for _ in range(12)]
    token = store.stack.env["STORE_SERVICE_TOKEN"]
    async with wechat_api() as (api, base):
        # Each replica with its own channel and state, as two processes have.
        replicas = [
            NoticeWorker(NoticeStore(store.url, token, name), WORDS, [make_channel(api_base=base)])
            for name in ("replica-a", "replica-b")
        ]
        for openid in residents:
            await add(store, conversation_id(openid), REPLY)
        try:
            rounds = await asyncio.gather(*(replica.deliver_due() for replica in replicas))
            while sum(rounds):
                rounds = await asyncio.gather(*(replica.deliver_due() for replica in replicas))
        finally:
            for replica in replicas:
                await replica.close()
    assert sorted(sent["touser"] for sent in api.sent) == sorted(residents)
