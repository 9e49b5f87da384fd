"""A real Sanic server with the WeChat channel on loopback, a recording stand-in for
Rasa, and a fake of the WeChat API (the one fake allowed: the real API is unreachable).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from rasa.core.channels.channel import UserMessage, register
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from sanic import Sanic

from rasa_runtime.engine import ThreadSafeInMemoryLockStore
from connectors.state import ChannelState
from connectors.wechat import WeChatInput
from connectors.wechat.settings import Limits, Timing, WeChatSettings
from connectors.wechat.simulator import SimulatedApi, SimulatedPlatform

TOKEN = "daan-test-token"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "test-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OTHER_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
OPENID = "oDaAnResident0000000000000001"
FAST = Timing(deadline=1.0)


def echo(message: UserMessage) -> list[dict[str, Any]]:
    return [{"text": f"收到：{message.text}"}]


@dataclass
class RecordingRasa:
    """Stands in for `agent.handle_message`: records messages, answers through the
    message's output channel as Rasa does, optionally after a delay."""

    answer: Callable[[UserMessage], list[dict[str, Any]]] = echo
    delay: float = 0.0
    # Seconds of CPU-bound work holding the event loop and the GIL, as NLU does.
    busy: float = 0.0
    calls: list[UserMessage] = field(default_factory=list)

    async def __call__(self, message: UserMessage) -> None:
        self.calls.append(message)
        await asyncio.sleep(self.delay)
        until = time.perf_counter() + self.busy
        while time.perf_counter() < until:
            pass
        for bot_message in self.answer(message):
            await message.output_channel.send_response(message.sender_id, dict(bot_message))


class StubAgent:
    """What the channel and `register` use of `app.ctx.agent`."""

    def __init__(self, rasa: RecordingRasa, tracker_store: TrackerStore | None = None) -> None:
        self.handle_message = rasa
        # Wrapped as Agent wraps it, so the deletion has to look through the wrapper.
        self.tracker_store = FailSafeTrackerStore(
            tracker_store or InMemoryTrackerStore(Domain.empty())
        )
        self.lock_store = ThreadSafeInMemoryLockStore()


def make_channel(
    aes: bool = True,
    api_base: str | None = None,
    timing: Timing = FAST,
    limits: Limits | None = None,
    state: ChannelState | None = None,
) -> WeChatInput:
    settings = WeChatSettings(
        token=TOKEN,
        app_id=APP_ID,
        encoding_aes_key=AES_KEY if aes else None,
        app_secret=APP_SECRET if api_base else None,
        **({"api_base": api_base} if api_base else {}),
    )
    return WeChatInput(settings, timing, limits, state)


def platform(aes: bool = True, key: str = AES_KEY) -> SimulatedPlatform:
    return SimulatedPlatform(TOKEN, APP_ID, key if aes else None)


@asynccontextmanager
async def serve_app(app: Sanic) -> AsyncIterator[str]:
    """Runs `app` on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        sock.close()


@dataclass
class Webhook:
    """A client of `/webhooks/wechat/webhook`, playing the WeChat servers' part."""

    url: str
    http: aiohttp.ClientSession

    async def post(self, query: dict[str, str], body: bytes) -> tuple[int, str]:
        async with self.http.post(self.url, params=query, data=body) as response:
            return response.status, await response.text()

    async def get(self, query: dict[str, str]) -> tuple[int, str]:
        async with self.http.get(self.url, params=query) as response:
            return response.status, await response.text()


@asynccontextmanager
async def serve_channel(channel: WeChatInput, agent: Any) -> AsyncIterator[Webhook]:
    """The channel registered as Rasa registers it, with `agent` as `app.ctx.agent`."""
    Sanic.test_mode = True
    app = Sanic(f"wechat_{uuid.uuid4().hex[:12]}")
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")
    async with serve_app(app) as base, aiohttp.ClientSession() as http:
        yield Webhook(f"{base}/webhooks/wechat/webhook", http)


@asynccontextmanager
async def fake_wechat_api() -> AsyncIterator[tuple[SimulatedApi, str]]:
    api = SimulatedApi(APP_ID, APP_SECRET)
    async with api.serving() as base:
        yield api, base
