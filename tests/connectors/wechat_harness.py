"""The WeChat channel on loopback, in front of the whole assistant (`wechat_stack`: the
trained model, the action server and the store, as real processes) or of a recording
stand-in for Rasa where a test must control when Rasa answers; and a fake of the
WeChat API (the one fake allowed: the real API is unreachable).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml
from rasa.core.channels.channel import UserMessage, register
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from sanic import Sanic
from wechat_platform import SimulatedApi, SimulatedPlatform

from connectors.state import ChannelState
from connectors.wechat.channel import WeChatInput
from connectors.wechat.identity import conversation_id
from connectors.wechat.settings import Limits, Timing, WeChatSettings
from rasa_runtime.engine import ThreadSafeInMemoryLockStore
from tests.servers import Stack, running_stack

ROOT = Path(__file__).resolve().parents[2]

TOKEN = "daan-test-token"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "test-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OTHER_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
OPENID = "oDaAnResident0000000000000001"
CONVERSATION = conversation_id(OPENID)
FAST = Timing(deadline=1.0)


def echo(message: UserMessage) -> list[dict[str, Any]]:
    return [{"text": f"收到：{message.text}"}]


@dataclass
class RecordingRasa:
    """Stands in for `agent.handle_message` where a test controls when Rasa answers:
    records messages, answers through the message's output channel as Rasa does,
    after `gate` opens (it runs on the engine's thread, hence a thread's event)."""

    answer: Callable[[UserMessage], list[dict[str, Any]]] = echo
    gate: threading.Event | None = None
    # Seconds of CPU-bound work holding the event loop and the GIL, as NLU does.
    busy: float = 0.0
    calls: list[UserMessage] = field(default_factory=list)
    # When each answer was complete (monotonic clock), to order it against responses.
    finished: list[float] = field(default_factory=list)

    async def __call__(self, message: UserMessage) -> None:
        self.calls.append(message)
        if self.gate is not None:
            await asyncio.to_thread(self.gate.wait)
        until = time.perf_counter() + self.busy
        while time.perf_counter() < until:
            pass
        for bot_message in self.answer(message):
            await message.output_channel.send_response(message.sender_id, dict(bot_message))
        self.finished.append(time.monotonic())


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
    clock: Callable[[], float] = time.time,
) -> WeChatInput:
    settings = WeChatSettings(
        token=TOKEN,
        app_id=APP_ID,
        encoding_aes_key=AES_KEY if aes else None,
        app_secret=APP_SECRET if api_base else None,
        **({"api_base": api_base} if api_base else {}),
    )
    return WeChatInput(settings, timing, limits, state, clock)


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


def new_openid() -> str:
    """An OpenID of its own for each test sharing a stack (28 characters, as real ones)."""
    return f"o{uuid.uuid4().hex[:27]}"


@dataclass
class WeChatStack:
    """The whole assistant with the WeChat channel on, and the platform's two sides."""

    stack: Stack
    platform: SimulatedPlatform
    api: SimulatedApi

    @property
    def url(self) -> str:
        return f"{self.stack.rasa_url}/webhooks/wechat/webhook"

    async def post(self, query: dict[str, str], body: bytes) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http:
            return await Webhook(self.url, http).post(query, body)

    async def get(self, query: dict[str, str]) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http:
            return await Webhook(self.url, http).get(query)

    async def answer(self, openid: str, body: str) -> str:
        """The answer to a push: the passive reply, or the customer-service message
        that follows a "success" when the model took longer than the deadline."""
        reply = self.platform.read_reply(body)
        if reply is not None and reply.get("Content"):
            return reply["Content"]
        return await self.api.next_message(openid)

    async def ask(self, openid: str, text: str, msg_id: int) -> str:
        status, body = await self.post(*self.platform.text(openid, text, msg_id))
        assert status == 200, body
        return await self.answer(openid, body)

    async def user_texts(self, openid: str) -> list[str]:
        """What the resident's conversation holds as their turns (Rasa's HTTP API)."""
        return [event["text"] for event in await self.events(openid) if event["event"] == "user"]

    async def events(self, openid: str) -> list[dict[str, Any]]:
        conversation = quote(conversation_id(openid), safe="")
        url = f"{self.stack.rasa_url}/conversations/{conversation}/tracker"
        params = {"token": self.stack.api_token}
        async with aiohttp.ClientSession() as http, http.get(url, params=params) as response:
            assert response.status == 200, await response.text()
            return (await response.json())["events"]


def _channels() -> str:
    """The project's own REST and WeChat channel settings (credentials.yml)."""
    configured = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
    wanted = ("connectors.rest.RestInput", "connectors.wechat.channel.WeChatInput")
    return yaml.safe_dump({name: configured[name] for name in wanted})


def response(name: str) -> dict[str, Any]:
    """The first variant of a response of the model's domain (domain.yml, bot/data)."""
    for path in [ROOT / "domain.yml", *sorted((ROOT / "bot" / "data").rglob("*.yml"))]:
        responses = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses")
        if responses and name in responses:
            return responses[name][0]
    raise KeyError(name)


@contextmanager
def wechat_stack(folder: Path, model: Path, aes: bool) -> Iterator[WeChatStack]:
    """The assistant as `make run` starts it, with the WeChat channel in safe mode
    (`aes`) or plaintext mode, and the fake WeChat API."""
    api = SimulatedApi(APP_ID, APP_SECRET)
    with api.serving_in_thread() as api_base:
        env = {
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_API_BASE": api_base,
            **({"WECHAT_ENCODING_AES_KEY": AES_KEY} if aes else {}),
        }
        with running_stack(folder, model, _channels(), env) as stack:
            yield WeChatStack(stack, platform(aes), api)


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Waits until `condition` holds (`timeout` only ends a test that would hang)."""

    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def caught_up(webhook: Webhook) -> None:
    """Returns once the server has answered a request sent after everything before it,
    on a connection of its own: what was sent before has been read by then."""
    health = webhook.url.rsplit("/", 1)[0] + "/"
    async with aiohttp.ClientSession() as http, http.get(health) as response:
        assert response.status == 200
