"""The channel in front of the real trained model, as `rasa run` serves it.

Loading the model takes most of this file's time (about 40 s); it is loaded once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from wechat_harness import OPENID, Webhook, fake_wechat_api, make_channel, platform, serve_app

from connectors.wechat.settings import Timing

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def action_server() -> Iterator[str]:
    """The real action server: FAQ answers go through `action_triage`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SANIC_HOST": "127.0.0.1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "rasa_sdk", "--actions", "bot.actions", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def wait_until_healthy(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"action server at {url} did not start")
            await asyncio.sleep(0.5)


@pytest_asyncio.fixture(scope="module")
async def agent(action_server: str, model_path: Path) -> Any:
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.utils.endpoints import EndpointConfig
    from rasa.utils.log_utils import configure_structlog

    # Without this, every parse is logged at debug level with the raw text.
    configure_structlog(logging.WARNING)
    # Loading the model (about 40 s) overlaps with the action server's start.
    endpoint = EndpointConfig(f"{action_server}/webhook")
    loaded = Agent.load(str(model_path), action_endpoint=endpoint)
    await wait_until_healthy(action_server)
    # The first prediction builds TensorFlow graphs; keep that out of the 5-second window.
    await loaded.processor.parse_message(UserMessage("你好"))
    return loaded


@pytest_asyncio.fixture(scope="module")
async def server(agent: Any) -> AsyncIterator[tuple[Webhook, str, list[dict]]]:
    from rasa.core.run import configure_app
    from sanic import Sanic

    async with fake_wechat_api() as (api, api_base):
        channel = make_channel(api_base=api_base, timing=Timing())
        Sanic.test_mode = True  # configure_app always names its app "rasa_server"
        app = configure_app([channel], enable_api=True)
        app.ctx.agent = agent
        async with serve_app(app) as base, aiohttp.ClientSession() as http:
            yield Webhook(f"{base}/webhooks/wechat/webhook", http), base, api.sent


@pytest.mark.asyncio(scope="module")
async def test_knowledge_base_answer_in_the_passive_reply(server: tuple, agent: Any) -> None:
    webhook, _, _ = server
    [answer] = agent.domain.responses["utter_faq/subsistence_materials"]
    wechat = platform()
    status, body = await webhook.post(*wechat.text(OPENID, "低保要带啥子材料", 8001))
    assert status == 200
    reply = wechat.read_reply(body)
    assert reply is not None
    content = reply["Content"]
    assert content.startswith(answer["text"])
    assert f"1. {answer['buttons'][0]['title']}" in content
    assert len(content.encode()) <= 2048


@pytest.mark.asyncio(scope="module")
async def test_http_api_output_channel_reaches_wechat(server: tuple) -> None:
    webhook, base, sent = server
    url = f"{base}/conversations/{OPENID}/trigger_intent?output_channel=wechat"
    async with webhook.http.post(url, json={"name": "greet"}) as response:
        assert response.status == 200
    [message] = sent
    assert message["touser"] == OPENID
    assert "1. 办老年证" in message["text"]["content"]
