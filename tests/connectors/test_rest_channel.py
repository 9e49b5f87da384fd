"""The REST channel without a model: a digit or a button's title reaches Rasa as the
button's payload, on whichever replica it lands."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic
from wechat_harness import RecordingRasa, StubAgent, serve_app

from connectors.guard import FULL_WIDTH_SLASH
from connectors.rest import RestInput

Say = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
MENU = {
    "text": "您好！请问办什么事？",
    "buttons": [
        {"title": "办老年证", "payload": "办老年证"},
        {"title": "查办件进度", "payload": "查进度"},
        {"title": "重来", "payload": "/restart"},
    ],
}


def menu_on_greeting(message: UserMessage) -> list[dict[str, Any]]:
    return [MENU] if message.text == "你好" else [{"text": f"收到：{message.text}"}]


@asynccontextmanager
async def serve_rest(rasa: RecordingRasa) -> AsyncIterator[tuple[RestInput, Say]]:
    """The channel registered as Rasa registers it; `say` posts as one sender."""
    Sanic.test_mode = True
    app = Sanic(f"rest_{uuid.uuid4().hex[:12]}")
    app.ctx.agent = StubAgent(rasa)
    channel = RestInput()
    register([channel], app, route="/webhooks/")
    async with serve_app(app) as base, aiohttp.ClientSession() as http:

        async def say(sender: str, text: str) -> list[dict[str, Any]]:
            body = {"sender": sender, "message": text}
            async with http.post(f"{base}/webhooks/rest/webhook", json=body) as response:
                return await response.json()

        yield channel, say


def texts(rasa: RecordingRasa) -> list[str]:
    return [call.text for call in rasa.calls]


async def test_a_digit_or_a_title_picks_a_button_of_the_last_reply() -> None:
    rasa = RecordingRasa(answer=menu_on_greeting)
    async with serve_rest(rasa) as (_, say):
        [greeting] = await say("r1", "你好")
        assert greeting["buttons"] == MENU["buttons"]
        assert await say("r1", "１") == [{"recipient_id": "r1", "text": "收到：办老年证"}]
        await say("r1", "1")  # the last reply had no buttons: just text
        await say("r1", "你好")
        await say("r1", "查办件进度。")
        await say("r1", "你好")
        await say("r1", "第三个")
    # A payload is screened like anything the resident types.
    assert texts(rasa) == [
        "你好",
        "办老年证",
        "1",
        "你好",
        "查进度",
        "你好",
        f"{FULL_WIDTH_SLASH}restart",
    ]


async def test_numbers_that_pick_nothing_pass_unchanged() -> None:
    rasa = RecordingRasa(answer=lambda _: [{"text": "请问家里有几口人？"}])
    numbers = ["DA202405200001", "13812345678", "510304195503120042", "4", "0"]
    async with serve_rest(rasa) as (_, say):
        await say("r2", "5")  # a household size: the question had no buttons
        rasa.answer = lambda _: [MENU]  # from now on every reply offers the menu
        await say("r2", "你好")
        for number in numbers:
            await say("r2", number)
        await say("r3", "1")  # someone else, never offered anything
    assert texts(rasa) == ["5", "你好", *numbers, "1"]


@pytest.mark.usefixtures("channels_in_redis")
async def test_a_digit_is_understood_on_another_replica() -> None:
    rasa = RecordingRasa(answer=menu_on_greeting)
    sender = f"resident-{uuid.uuid4().hex}"
    async with AsyncExitStack() as stack:
        first, say_first = await stack.enter_async_context(serve_rest(rasa))
        _, say_second = await stack.enter_async_context(serve_rest(rasa))
        await say_first(sender, "你好")
        await say_second(sender, "2")
        await first.options.forget(sender)
    assert texts(rasa) == ["你好", "查进度"]
