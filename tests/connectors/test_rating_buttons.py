"""The rating invitation (好差评) on every channel, with a real status store on loopback
(its own process and venv), the notice worker and the store's message routing in front
of a recording stand-in for Rasa.

A trial found every message starting with 1–5 recorded as a rating while an invitation
was open: 「1」 meant for a button, 「4」 for the fourth button of the menu (a false 差评)
and 「3」 answering 「家里一共几口人」. Now the invitation comes with the five levels as
buttons, a digit picks from the buttons of whatever the resident saw last (the
invitation only when it is the last thing shown), and the store records only a level's
words. An invitation is made by the store itself, as in service: an application staff
approved in the resident's conversation."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage, register
from residents import rest_says, wechat_says
from sanic import Sanic
from test_webchat_channel import ALLOWED, SESSION_KEY, raw_socket
from wechat_harness import (
    APP_ID,
    APP_SECRET,
    RecordingRasa,
    StubAgent,
    make_channel,
    new_openid,
    serve_app,
)
from wechat_platform import SimulatedApi

from connectors import guard
from connectors.handoff import HandoffDesk, HandoffStore, HandoffWords
from connectors.rest import OpenAccess, RestInput
from connectors.webchat import WebChatInput
from connectors.wechat.identity import conversation_id
from connectors.wechat.replies import load_replies
from rasa_runtime import settings
from rasa_runtime.notices import NoticeStore, NoticeWords, NoticeWorker
from scripts.id_numbers import resident_id_number
from tests.servers import StoreProcess, running_store

WORDS = NoticeWords.load()
HANDOFF_WORDS = HandoffWords.load()
LEVELS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
# The assistant's welcome, as the domain has it: five buttons, the fourth a question.
MENU = {
    "text": "您好！我是大安区便民服务小助手。",
    "buttons": [
        {"title": "办老年证", "payload": "办老年证"},
        {"title": "查办件进度", "payload": "查进度"},
        {"title": "医保交费", "payload": "医保交费"},
        {"title": "低保哪些人能办", "payload": "哪些人可以吃低保"},
        {"title": "转人工", "payload": "转人工"},
    ],
}
HOUSEHOLD_QUESTION = {"text": "家里一共几口人（户口本上一起生活的人）？发个数字就行。"}
# People of this module's applications (other modules' stores are their own).
_people = itertools.count(700)


def assistant_answer(message: UserMessage) -> list[dict[str, Any]]:
    """The stand-in's answers: the menu to a greeting, the 低保 form's household
    question to an application, else what it heard."""
    if message.text == "你好":
        return [MENU]
    if message.text == "我要申请低保":
        return [HOUSEHOLD_QUESTION]
    return [{"text": f"收到：{message.text}"}]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with running_store(tmp_path_factory.mktemp("rating-buttons-store")) as running:
        yield running


@pytest.fixture(autouse=True)
def no_pause_after_a_failed_look_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "NOTICE_POLL_SECONDS", 0.0)


async def invite(store: StoreProcess, conversation: str) -> None:
    """An application of the resident approved by staff: the store invites a rating."""
    env = store.stack.env
    body = {
        "service_type": "elderly_card",
        "applicant_name": "王秀英",
        "id_number": resident_id_number(next(_people)),
        "phone": "13812345678",
        "township": "牛佛镇",
        "details": {},
        "channel": conversation.partition(":")[0],
        "conversation_id": conversation,
        "privacy_notice": "2026-11",
    }
    service = {"Authorization": f"Bearer {env['STORE_SERVICE_TOKEN']}"}
    staff = {"Authorization": f"Bearer {env['STORE_STAFF_TOKEN']}"}
    async with aiohttp.ClientSession(raise_for_status=True) as http:
        headers = {**service, "Idempotency-Key": uuid.uuid4().hex}
        async with http.post(f"{store.url}/applications", json=body, headers=headers) as made:
            number = (await made.json())["tracking_number"]
        for status in ("township_review", "district_review", "approved"):
            change = {"status": status, "actor": "王芳"}
            path = f"{store.url}/staff/applications/{number}/transitions"
            async with http.post(path, json=change, headers=staff):
                pass


def recorded_levels(store: StoreProcess, conversation: str) -> list[str]:
    with sqlite3.connect(store.stack.folder / "store.db", timeout=10) as db:
        rows = db.execute(
            "SELECT level FROM ratings WHERE conversation_id = ? AND level IS NOT NULL",
            (conversation,),
        ).fetchall()
    return [level for (level,) in rows]


@dataclass
class Assistant:
    """The three channels on one server, the notice worker and the store's routing."""

    url: str
    rasa: RecordingRasa
    worker: NoticeWorker
    http: aiohttp.ClientSession

    @property
    def heard(self) -> list[str]:
        """What reached the assistant, as it reached it."""
        return [message.text for message in self.rasa.calls]

    async def wechat_says(self, openid: str, text: str) -> str:
        return await wechat_says(self.http, self.url, openid, text)

    async def rest_says(self, sender: str, text: str) -> list[dict[str, Any]]:
        return await rest_says(self.http, self.url, sender, text)


@asynccontextmanager
async def assistant(
    store: StoreProcess, api_base: str | None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Assistant]:
    token = store.stack.env["STORE_SERVICE_TOKEN"]
    desk = HandoffDesk(HandoffStore(store.url, token, timeout_seconds=5), HANDOFF_WORDS)
    # The server's desk, routing through this store, for the channels' guards.
    monkeypatch.setattr(guard, "shared_desk", lambda: desk)
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("WEBCHAT_SESSION_KEY", SESSION_KEY)
    wechat = make_channel(api_base=api_base)
    webchat = WebChatInput.from_credentials({"allowed_origins": ALLOWED})
    rest = RestInput(OpenAccess())
    rasa = RecordingRasa(answer=assistant_answer)
    app = Sanic(f"ratings_{uuid.uuid4().hex[:12]}")
    app.ctx.agent = StubAgent(rasa)
    register([wechat, webchat, rest], app, route="/webhooks/")
    worker = NoticeWorker(
        NoticeStore(store.url, token, "test-replica"), WORDS, [wechat, webchat, rest]
    )
    async with serve_app(app) as url, aiohttp.ClientSession() as http:
        try:
            yield Assistant(url, rasa, worker, http)
        finally:
            await worker.close()
            await desk.close()
            await webchat.sio.shutdown()


@asynccontextmanager
async def wechat_api() -> AsyncIterator[tuple[SimulatedApi, str]]:
    api = SimulatedApi(APP_ID, APP_SECRET)
    async with api.serving(0) as base:
        yield api, base


def test_the_invitation_offers_the_five_levels_best_first() -> None:
    buttons = WORDS.buttons["rating_invite"]
    assert [button.title for button in buttons] == LEVELS
    assert [button.payload for button in buttons] == LEVELS
    # Other notices have none.
    assert not any(WORDS.buttons[kind] for kind in WORDS.templates if kind != "rating_invite")


async def test_a_widget_invited_live_rates_with_1_and_the_next_digit_is_plain_text(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        assistant(store, None, monkeypatch) as running,
        raw_socket(running.url, ALLOWED) as widget,
    ):
        conversation = await widget.session()
        await invite(store, conversation)
        assert await running.worker.deliver_due() == 4  # three status notices, the invitation
        for _ in range(3):
            assert "【办件进度】" in (await widget.receive("bot_uttered"))["text"]
        invitation = await widget.receive("bot_uttered")
        assert "打个分" in invitation["text"]
        assert [(b["title"], b["payload"]) for b in invitation["quick_replies"]] == [
            (level, level) for level in LEVELS
        ]

        await widget.emit("user_uttered", {"message": "1"})
        assert await widget.receive("bot_uttered") == {"text": HANDOFF_WORDS.rating_thanks}
        # The thanks has no buttons: a digit now is the resident's own text.
        await widget.emit("user_uttered", {"message": "2"})
        assert await widget.receive("bot_uttered") == {"text": "收到：2"}
    assert recorded_levels(store, conversation) == ["very_satisfied"]
    assert running.heard == ["2"]


async def test_on_wechat_the_pushed_invitation_is_numbered_and_1_picks_its_first_level(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    openid = new_openid()
    conversation = conversation_id(openid)
    async with wechat_api() as (api, base), assistant(store, base, monkeypatch) as running:
        await invite(store, conversation)
        await running.worker.deliver_due()
        pushed = [await api.next_message(openid) for _ in range(4)]
        numbered = "\n".join(f"{n}. {level}" for n, level in enumerate(LEVELS, start=1))
        assert numbered in pushed[-1] and load_replies().options_hint in pushed[-1]

        assert await running.wechat_says(openid, "1") == HANDOFF_WORDS.rating_thanks
    assert recorded_levels(store, conversation) == ["very_satisfied"]
    assert running.heard == []


async def test_on_wechat_a_digit_after_the_menu_that_followed_the_invitation_is_a_menu_pick(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    openid = new_openid()
    conversation = conversation_id(openid)
    async with wechat_api() as (api, base), assistant(store, base, monkeypatch) as running:
        await invite(store, conversation)
        await running.worker.deliver_due()
        for _ in range(4):
            await api.next_message(openid)
        assert "4. 低保哪些人能办" in await running.wechat_says(openid, "你好")
        # The trial's false 差评: 「4」 for the menu's fourth button.
        assert await running.wechat_says(openid, "4") == "收到：哪些人可以吃低保"
    assert recorded_levels(store, conversation) == []
    assert running.heard == ["你好", "哪些人可以吃低保"]


async def test_an_invitation_given_with_a_form_question_leaves_3_as_the_household_size(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No customer-service API: the invitation comes in the reply to the next message,
    # before the answer, which here is the 低保 form's question.
    openid = new_openid()
    conversation = conversation_id(openid)
    async with assistant(store, None, monkeypatch) as running:
        await invite(store, conversation)
        reply = await running.wechat_says(openid, "我要申请低保")
        assert "打个分" in reply and reply.endswith(HOUSEHOLD_QUESTION["text"])
        # Numbers here would pick nothing: a digit answers the question after them.
        assert "1. 非常满意" not in reply

        assert await running.wechat_says(openid, "3") == "收到：3"
        assert recorded_levels(store, conversation) == []
        # The level's words still rate it.
        assert await running.wechat_says(openid, "满意 办得快") == HANDOFF_WORDS.rating_thanks
    assert recorded_levels(store, conversation) == ["satisfied"]
    assert running.heard == ["我要申请低保", "3"]


async def test_on_rest_the_answers_buttons_come_last_and_a_digit_with_a_comment_is_no_rating(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = f"rating-{uuid.uuid4().hex[:8]}"
    conversation = f"rest:{sender}"
    async with assistant(store, None, monkeypatch) as running:
        await invite(store, conversation)
        replies = await running.rest_says(sender, "你好")
        invitation = next(reply for reply in replies if "打个分" in reply["text"])
        assert [button["payload"] for button in invitation["buttons"]] == LEVELS
        assert replies[-1]["buttons"] == MENU["buttons"]

        # 「1」 picks the menu's first button, the last ones shown.
        assert await running.rest_says(sender, "1") == [
            {"recipient_id": sender, "text": "收到：办老年证"}
        ]
        # A digit and a comment is the resident's own text (5 may mean five stars).
        assert (await running.rest_says(sender, "4 等太久了"))[0]["text"] == "收到：4 等太久了"
        assert recorded_levels(store, conversation) == []
        # A tapped button sends the level's words.
        assert [r["text"] for r in await running.rest_says(sender, "不满意")] == [
            HANDOFF_WORDS.rating_sorry
        ]
    assert recorded_levels(store, conversation) == ["dissatisfied"]
    assert running.heard == ["你好", "办老年证", "4 等太久了"]


async def test_a_widget_reconnecting_gets_the_invitation_with_its_buttons_and_1_rates(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with assistant(store, None, monkeypatch) as running:
        async with raw_socket(running.url, ALLOWED) as widget:
            confirmed = await widget.confirm({"token": None})
        conversation = f"socketio:{confirmed['session_id']}"
        await invite(store, conversation)
        async with raw_socket(running.url, ALLOWED) as widget:
            assert await widget.session(confirmed["token"]) == conversation
            given = [await widget.receive("bot_uttered") for _ in range(4)]
            assert [b["payload"] for b in given[-1]["quick_replies"]] == LEVELS
            await widget.emit("user_uttered", {"message": "第一个"})
            assert await widget.receive("bot_uttered") == {"text": HANDOFF_WORDS.rating_thanks}
    assert recorded_levels(store, conversation) == ["very_satisfied"]
    assert running.heard == []
