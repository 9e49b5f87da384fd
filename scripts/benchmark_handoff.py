"""Benchmark: how long a staff member's message in a handoff takes to reach the resident.

The whole assistant on loopback with the widget (socket.io) and WeChat (the fake WeChat
API of scripts/wechat_fake.py) channels. A resident asks for a person on each channel
(leaving a message when the office is closed), a staff member signs in to the console,
takes the handoff and posts messages through its form (with the page's CSRF token, as a
browser does); each is timed from the post until the resident has it: the widget's
`bot_uttered` (pushed live) and the customer-service message the WeChat API receives.
Both go through the store's notification outbox and the Rasa server's notice worker,
which looks for due notices every NOTICE_POLL_SECONDS: that poll is the baseline the
figures are to be read against. Figures go to stdout and results/benchmark_handoff.json.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rasa_runtime.settings import NOTICE_POLL_SECONDS  # noqa: E402
from scripts import processes  # noqa: E402
from scripts.benchmark import CHANNELS, WECHAT, newest, summary  # noqa: E402
from scripts.benchmark_stack import Assistant, free_port, running_assistant  # noqa: E402
from scripts.wechat_fake import FakeApi, FakePlatform  # noqa: E402

MESSAGES = 20
STAFF = "bench-staff"
# Open all day (a weekend or holiday still closes it: the resident then leaves a message).
OFFICE = {"STORE_OFFICE_HOURS": "00:00-23:59"}
DELIVERY_LIMIT_SECONDS = 30
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_HANDOFF_LINK = re.compile(r'href="/console/handoffs/(\d+)"')


def create_admin(assistant: Assistant) -> str:
    password = secrets.token_urlsafe(16)
    env = {**processes.environment("store", assistant.env), "STORE_ADMIN_PASSWORD": password}
    subprocess.run(
        [*processes.command("store"), "create-admin", "--username", STAFF],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return password


class Console:
    """A staff member's browser session: pages, their CSRF token, form posts."""

    def __init__(self, http: aiohttp.ClientSession, store_url: str) -> None:
        self._http, self._url = http, store_url

    async def page(self, path: str) -> str:
        async with self._http.get(self._url + path) as response:
            assert response.status == 200, (path, response.status)
            return await response.text()

    async def post(self, path: str, token: str, **fields: str) -> None:
        data = {**fields, "csrf_token": token}
        async with self._http.post(self._url + path, data=data, allow_redirects=False) as reply:
            await reply.read()
            assert reply.status == 303, (path, reply.status)

    async def token(self, path: str) -> str:
        found = _CSRF.search(await self.page(path))
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    async def log_in(self, password: str) -> None:
        token = await self.token("/console/login")
        await self.post("/console/login", token, username=STAFF, password=password)

    async def newest_handoff(self) -> int:
        return max(int(n) for n in _HANDOFF_LINK.findall(await self.page("/console/handoffs")))


async def timed_messages(
    console: Console, handoff: int, received: Callable[[str], Awaitable[None]]
) -> list[float]:
    """Each staff message from its form post until `received` has it."""
    page = f"/console/handoffs/{handoff}"
    token = await console.token(page)
    await console.post(f"{page}/take", token)
    times = []
    for number in range(MESSAGES):
        # Staff write at any moment of the worker's poll, not just after one delivered.
        await asyncio.sleep(random.uniform(0, NOTICE_POLL_SECONDS))
        text = f"测量消息{number:02d}，请稍候"
        start = time.perf_counter()
        await console.post(f"{page}/say", token, text=text)
        await asyncio.wait_for(received(text), DELIVERY_LIMIT_SECONDS)
        times.append((time.perf_counter() - start) * 1000)
    await console.post(f"{page}/close", token)
    return times


class Widget:
    """A resident's widget on the socket.io channel (a thread of python-socketio's)."""

    def __init__(self, rasa_url: str) -> None:
        self._client = socketio.Client(websocket_extra_options={"suppress_origin": True})
        self._texts: list[str] = []
        self._changed = threading.Condition()
        confirmed = threading.Event()
        self._client.on("bot_uttered", self._heard)
        self._client.on("session_confirm", lambda _session: confirmed.set())
        self._client.connect(rasa_url, transports=["websocket"], socketio_path="/socket.io")
        self._client.emit("session_request", {})
        if not confirmed.wait(timeout=10):
            raise RuntimeError("no session_confirm from the socket.io channel")

    def _heard(self, message: dict) -> None:
        with self._changed:
            self._texts.append(str(message.get("text") or ""))
            self._changed.notify_all()

    def say(self, text: str) -> str:
        """What the assistant answers (its first bubble)."""
        with self._changed:
            heard = len(self._texts)
            self._client.emit("user_uttered", {"message": text})
            self._changed.wait_for(lambda: len(self._texts) > heard, timeout=30)
            return self._texts[heard]

    async def received(self, text: str) -> None:
        def wait() -> None:
            with self._changed:
                self._changed.wait_for(
                    lambda: any(text in t for t in self._texts), DELIVERY_LIMIT_SECONDS
                )

        await asyncio.to_thread(wait)

    def close(self) -> None:
        self._client.disconnect()


async def widget_latency(assistant: Assistant, console: Console) -> list[float]:
    widget = Widget(assistant.rasa_url)
    try:
        if widget.say("转人工").startswith("现在是下班时间"):
            widget.say("我想问下我妈的低保")  # the message left for staff
        return await timed_messages(console, await console.newest_handoff(), widget.received)
    finally:
        widget.close()


async def wechat_latency(assistant: Assistant, console: Console, api: FakeApi) -> list[float]:
    platform = FakePlatform(
        WECHAT["WECHAT_TOKEN"], WECHAT["WECHAT_APP_ID"], WECHAT["WECHAT_ENCODING_AES_KEY"]
    )
    openid = f"o-bench-handoff-{secrets.token_hex(4)}"
    async with aiohttp.ClientSession() as http:

        async def say(text: str, msg_id: int) -> str:
            query, body = platform.text(openid, text, msg_id)
            url = f"{assistant.rasa_url}/webhooks/wechat/webhook"
            async with http.post(url, params=query, data=body) as reply:
                answer = platform.reply_text(await reply.text())
            return answer or await asyncio.wait_for(api.inboxes[openid].get(), 30)

        if (await say("转人工", 1)).startswith("现在是下班时间"):
            await say("我想问下我妈的低保", 2)

    async def received(text: str) -> None:
        while text not in await api.inboxes[openid].get():
            pass

    return await timed_messages(console, await console.newest_handoff(), received)


async def measure(assistant: Assistant, api: FakeApi, api_port: int, password: str) -> dict:
    jar = aiohttp.CookieJar(unsafe=True)  # the store is addressed by IP
    async with api.serving(api_port), aiohttp.ClientSession(cookie_jar=jar) as http:
        console = Console(http, assistant.store_url)
        await console.log_in(password)
        widget = await widget_latency(assistant, console)
        wechat = await wechat_latency(assistant, console, api)
    return {
        **{f"widget_{k}": v for k, v in summary(widget).items()},
        **{f"wechat_{k}": v for k, v in summary(wechat).items()},
    }


def main() -> None:
    model = newest(ROOT / "bot" / "models")
    api_port = free_port()
    env = {**WECHAT, "WECHAT_API_BASE": f"http://127.0.0.1:{api_port}", **OFFICE}
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_assistant(Path(tmp), model, CHANNELS, env) as assistant,
    ):
        password = create_admin(assistant)
        figures = asyncio.run(measure(assistant, FakeApi(), api_port, password))
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "messages_per_channel": MESSAGES,
        "notice_poll_seconds (baseline)": NOTICE_POLL_SECONDS,
        **figures,
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "benchmark_handoff.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
