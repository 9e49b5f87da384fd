"""The REST channel without a model, on a real Sanic server on loopback: who may talk
(open locally, signed in production), what a request may hold, and a digit or a
button's title read as the button's payload on whichever replica it lands."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from connectors.guard import FULL_WIDTH_SLASH
from connectors.rest import (
    CLIENT_HEADER,
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    SIGNATURE_WINDOW_SECONDS,
    TIMESTAMP_HEADER,
    RestInput,
    SignedAccess,
    signature_for,
)
from connectors.state import MemoryState

MENU = {
    "text": "您好！请问办什么事？",
    "buttons": [
        {"title": "办老年证", "payload": "办老年证"},
        {"title": "查办件进度", "payload": "查进度"},
        {"title": "重来", "payload": "/restart"},
    ],
}
OPEN = {"authentication": "none"}
CLIENT, SECRET = "hotline", "s" * 40
OTHER_CLIENT, OTHER_SECRET = "records", "r" * 40
SECRETS = f"{CLIENT}={SECRET},{OTHER_CLIENT}={OTHER_SECRET}"
WECHAT_OPENID = "oDaAnResident0000000000000001"
ID_NUMBER = "510304195503120042"


def menu_on_greeting(message: UserMessage) -> list[dict[str, Any]]:
    return [MENU] if message.text == "你好" else [{"text": f"收到：{message.text}"}]


@dataclass
class RecordingRasa:
    """Stands in for `agent.handle_message`: records each message and answers through
    its output channel, as Rasa does."""

    answer: Callable[[UserMessage], list[dict[str, Any]]] = menu_on_greeting
    calls: list[UserMessage] = field(default_factory=list)

    async def handle_message(self, message: UserMessage) -> None:
        self.calls.append(message)
        for reply in self.answer(message):
            await message.output_channel.send_response(message.sender_id, dict(reply))

    def texts(self) -> list[str]:
        return [call.text for call in self.calls]


@dataclass
class Client:
    url: str
    http: aiohttp.ClientSession

    async def post(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.http.post(self.url, data=body, headers=headers or {}) as response:
            return response.status, await response.json(content_type=None)

    async def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        status, replies = await self.post(body_of(sender, text))
        assert status == 200, replies
        return replies


def body_of(sender: Any, text: Any, **extra: Any) -> bytes:
    return json.dumps({"sender": sender, "message": text, **extra}).encode()


def signed(body: bytes, timestamp: int | None = None, client: str = CLIENT, secret: str = SECRET):
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        CLIENT_HEADER: client,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature_for(secret, stamp, body),
    }


@asynccontextmanager
async def serve_rest(rasa: RecordingRasa, channel: RestInput) -> AsyncIterator[Client]:
    """The channel registered as Rasa registers it, on a free loopback port."""
    Sanic.test_mode = True
    app = Sanic(f"rest_{uuid.uuid4().hex[:12]}")
    app.ctx.agent = rasa
    register([channel], app, route="/webhooks/")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/rest/webhook"
    try:
        async with aiohttp.ClientSession() as http:
            yield Client(url, http)
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        sock.close()


def open_channel() -> RestInput:
    return RestInput.from_credentials(OPEN)


def signed_channel(clock: Callable[[], float] = time.time) -> RestInput:
    secrets = {CLIENT: SECRET, OTHER_CLIENT: OTHER_SECRET}
    return RestInput(SignedAccess(secrets, MemoryState(100), clock=clock))


# --- which authentication: chosen explicitly, never open by default ------------------


@pytest.mark.parametrize(
    "credentials",
    [None, {}, {"authentication": None}, {"authentication": "open"}, {"authentication": "NONE"}],
)
def test_a_missing_or_unknown_authentication_refuses_to_start(credentials: Any) -> None:
    with pytest.raises(ValueError, match="authentication"):
        RestInput.from_credentials(credentials)


@pytest.mark.parametrize(
    "secrets",
    [
        None,
        "",
        f"{CLIENT}={'s' * 31}",  # too short to be a secret
        f"{CLIENT}{SECRET}",  # no "="
        f"bad:client={SECRET}",
        f"{CLIENT}={SECRET},{CLIENT}={OTHER_SECRET}",
    ],
)
def test_signed_needs_well_formed_client_secrets(
    monkeypatch: pytest.MonkeyPatch, secrets: str | None
) -> None:
    if secrets is None:
        monkeypatch.delenv("REST_CLIENT_SECRETS", raising=False)
    else:
        monkeypatch.setenv("REST_CLIENT_SECRETS", secrets)
    with pytest.raises(ValueError, match="REST_CLIENT_SECRETS"):
        RestInput.from_credentials({"authentication": "signed"})


def test_signed_reads_its_clients_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REST_CLIENT_SECRETS", f" {SECRETS} ,")
    channel = RestInput.from_credentials({"authentication": "signed"})
    assert isinstance(channel.access, SignedAccess)


# --- the open local channel: its own namespace, nothing else -------------------------


async def test_a_sender_names_only_a_rest_conversation() -> None:
    rasa = RecordingRasa()
    async with serve_rest(rasa, open_channel()) as client:
        replies = await client.say(WECHAT_OPENID, "电话不对")
    [message] = rasa.calls
    # A WeChat resident's OpenID as sender reaches a REST conversation of that name.
    assert message.sender_id == f"rest:{WECHAT_OPENID}"
    assert message.input_channel == "rest"
    assert replies == [{"recipient_id": WECHAT_OPENID, "text": "收到：电话不对"}]


@pytest.mark.parametrize(
    "sender",
    [
        None,
        "",
        "wechat:" + WECHAT_OPENID,  # another channel's namespace
        "socketio:a1b2c3d4",
        "a" * 65,
        "x" * 1_000,
        "resident 1",
        "居民",
        "a/b",
        123,
        ["r1"],
        {"id": "r1"},
    ],
)
async def test_the_sender_is_required_and_bounded(sender: Any) -> None:
    rasa = RecordingRasa()
    async with serve_rest(rasa, open_channel()) as client:
        status, error = await client.post(body_of(sender, "你好"))
        missing_status, missing = await client.post(json.dumps({"message": "你好"}).encode())
    assert (status, error) == (400, {"error": "invalid_sender"})
    assert (missing_status, missing) == (400, {"error": "invalid_sender"})
    assert rasa.calls == []


async def test_the_longest_sender_and_every_allowed_character_pass() -> None:
    rasa = RecordingRasa()
    senders = ["a" * 64, "Case_1024.v2-A"]
    async with serve_rest(rasa, open_channel()) as client:
        for sender in senders:
            await client.say(sender, "你好")
    assert [call.sender_id for call in rasa.calls] == [f"rest:{sender}" for sender in senders]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "invalid_json"),
        (b"[]", "body_must_be_an_object"),
        (b'["r1", "hi"]', "body_must_be_an_object"),
        (b"null", "body_must_be_an_object"),
        (b'"hello"', "body_must_be_an_object"),
        (b"{", "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b"[" * 5_000 + b"]" * 5_000, "invalid_json"),
        # A signer or proxy reading the first "sender" and Rasa the last would disagree
        # about who is talking.
        (b'{"sender": "r1", "sender": "r2", "message": "hi"}', "invalid_json"),
        (b'{"sender": "r1", "message": "hi", "message": "/restart"}', "invalid_json"),
        (body_of("r1", None), "invalid_message"),
        (json.dumps({"sender": "r1"}).encode(), "invalid_message"),
        (body_of("r1", 123), "invalid_message"),
        (body_of("r1", ["你好"]), "invalid_message"),
        (body_of("r1", {"text": "你好"}), "invalid_message"),
    ],
)
async def test_malformed_bodies_get_a_short_400(
    body: bytes, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    rasa = RecordingRasa()
    async with serve_rest(rasa, open_channel()) as client:
        status, answer = await client.post(body)
    assert (status, answer) == (400, {"error": error})
    assert rasa.calls == []
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_an_oversized_body_is_refused_unread() -> None:
    rasa = RecordingRasa()
    huge_metadata = body_of("r1", "你好", metadata={"blob": "x" * 10_000_000})
    unpadded = len(body_of("r1", "你好", padding=""))
    at_the_cap = body_of("r1", "你好", padding="x" * (MAX_BODY_BYTES - unpadded))

    async def chunked() -> AsyncIterator[bytes]:
        # No Content-Length: the cap must hold while reading, too.
        for _ in range(4):
            yield b" " * (MAX_BODY_BYTES // 2)

    async with serve_rest(rasa, open_channel()) as client:
        assert await client.post(huge_metadata) == (413, {"error": "body_too_large"})
        async with client.http.post(client.url, data=chunked()) as response:
            assert (response.status, await response.json()) == (413, {"error": "body_too_large"})
        assert len(at_the_cap) == MAX_BODY_BYTES
        status, _ = await client.post(at_the_cap)
        assert status == 200
        assert await client.post(at_the_cap + b" ") == (413, {"error": "body_too_large"})
    assert rasa.texts() == ["你好"]


async def test_metadata_and_input_channel_from_the_body_are_ignored() -> None:
    rasa = RecordingRasa()
    body = body_of("r1", "你好", metadata={"channel": "wechat"}, input_channel="wechat")
    async with serve_rest(rasa, open_channel()) as client:
        status, _ = await client.post(body)
    assert status == 200
    [message] = rasa.calls
    assert message.input_channel == "rest"
    assert not message.metadata


async def test_a_failed_turn_logs_no_message_text(caplog: pytest.LogCaptureFixture) -> None:
    def fail(message: UserMessage) -> list[dict[str, Any]]:
        raise RuntimeError("the model is unwell")

    async with serve_rest(RecordingRasa(answer=fail), open_channel()) as client:
        replies = await client.say("r1", f"我的身份证{ID_NUMBER}")
    assert replies == []
    assert "rest: a turn failed" in caplog.text
    assert ID_NUMBER not in caplog.text


# --- the signed channel: who signed decides the conversation -------------------------


async def test_a_signed_request_talks_in_the_clients_namespace() -> None:
    rasa = RecordingRasa()
    async with serve_rest(rasa, signed_channel()) as client:
        body = body_of("case-1", "你好")
        status, replies = await client.post(body, signed(body))
        other = body_of("case-1", "查进度")
        other_status, _ = await client.post(
            other, signed(other, client=OTHER_CLIENT, secret=OTHER_SECRET)
        )
    assert (status, other_status) == (200, 200)
    assert replies[0]["recipient_id"] == "case-1"
    assert [call.sender_id for call in rasa.calls] == [
        f"rest:{CLIENT}:case-1",
        f"rest:{OTHER_CLIENT}:case-1",
    ]


async def test_unsigned_and_wrongly_signed_requests_are_refused() -> None:
    rasa = RecordingRasa()
    body = body_of("case-1", "电话不对")
    good = signed(body)
    attempts = [
        {},
        {CLIENT_HEADER: CLIENT, TIMESTAMP_HEADER: good[TIMESTAMP_HEADER]},
        {**good, SIGNATURE_HEADER: ""},
        {**good, SIGNATURE_HEADER: good[SIGNATURE_HEADER][:-1]},  # a prefix of it
        {**good, SIGNATURE_HEADER: good[SIGNATURE_HEADER] + "0"},
        {**good, SIGNATURE_HEADER: good[SIGNATURE_HEADER].upper()},
        {**good, SIGNATURE_HEADER: "签名"},
        signed(body, secret=OTHER_SECRET),  # another client's secret
        signed(body, client="stranger"),
        {**good, CLIENT_HEADER: OTHER_CLIENT},  # someone else's name on it
        {**good, TIMESTAMP_HEADER: str(int(good[TIMESTAMP_HEADER]) + 1)},
        {**good, TIMESTAMP_HEADER: "１" * 10},
        {**good, TIMESTAMP_HEADER: "9" * 5_000},
    ]
    async with serve_rest(rasa, signed_channel()) as client:
        for headers in attempts:
            assert await client.post(body, headers) == (401, {"error": "unauthorized"}), headers
        tampered = body_of("case-2", "电话不对")
        assert await client.post(tampered, good) == (401, {"error": "unauthorized"})
        assert (await client.post(body, good))[0] == 200  # the genuine one still works
    assert [call.sender_id for call in rasa.calls] == [f"rest:{CLIENT}:case-1"]


async def test_a_timestamp_outside_the_window_is_refused() -> None:
    now = 1_800_000_000
    rasa = RecordingRasa()
    async with serve_rest(rasa, signed_channel(clock=lambda: now)) as client:
        for offset in (-SIGNATURE_WINDOW_SECONDS, SIGNATURE_WINDOW_SECONDS):
            body = body_of("case-1", f"{offset}")
            assert (await client.post(body, signed(body, now + offset)))[0] == 200
        for offset in (-SIGNATURE_WINDOW_SECONDS - 1, SIGNATURE_WINDOW_SECONDS + 1, -now):
            body = body_of("case-1", f"{offset}")
            refused = await client.post(body, signed(body, now + offset))
            assert refused == (401, {"error": "stale_timestamp"}), offset
    assert rasa.texts() == [f"{-SIGNATURE_WINDOW_SECONDS}", f"{SIGNATURE_WINDOW_SECONDS}"]


async def test_a_replayed_request_is_refused_a_fresh_signature_is_not() -> None:
    rasa = RecordingRasa()
    body = body_of("case-1", "确认提交")
    async with serve_rest(rasa, signed_channel()) as client:
        first = signed(body)
        assert (await client.post(body, first))[0] == 200
        assert await client.post(body, first) == (401, {"error": "replayed"})
        # The client's own retry is a new request: signed again, at a later second.
        retry = signed(body, int(first[TIMESTAMP_HEADER]) + 1)
        assert (await client.post(body, retry))[0] == 200
    assert rasa.texts() == ["确认提交", "确认提交"]


class RememberingState(MemoryState):
    """The memory state, noting how long each signature is kept."""

    def __init__(self) -> None:
        super().__init__(100)
        self.ttls: list[float] = []

    async def setdefault(self, name: str, value: str, ttl: float) -> str:
        self.ttls.append(ttl)
        return await super().setdefault(name, value, ttl)


async def test_a_signature_is_remembered_as_long_as_its_timestamp_is_acceptable() -> None:
    # A request stamped at the window's future edge stays acceptable until the window's
    # past edge: twice the window after it is first seen.
    seen = RememberingState()
    channel = RestInput(SignedAccess({CLIENT: SECRET}, seen))
    async with serve_rest(RecordingRasa(), channel) as client:
        body = body_of("case-1", "你好")
        assert (await client.post(body, signed(body)))[0] == 200
    assert seen.ttls == [2 * SIGNATURE_WINDOW_SECONDS]


@pytest.mark.usefixtures("channels_in_redis")
async def test_a_request_replayed_to_another_replica_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REST_CLIENT_SECRETS", SECRETS)
    rasa = RecordingRasa()
    body = body_of(f"case-{uuid.uuid4().hex[:8]}", "你好")
    headers = signed(body)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            serve_rest(rasa, RestInput.from_credentials({"authentication": "signed"}))
        )
        second = await stack.enter_async_context(
            serve_rest(rasa, RestInput.from_credentials({"authentication": "signed"}))
        )
        assert (await first.post(body, headers))[0] == 200
        assert await second.post(body, headers) == (401, {"error": "replayed"})
    assert len(rasa.calls) == 1


# --- options: a digit or a title picks a button of the last reply --------------------


async def test_a_digit_or_a_title_picks_a_button_of_the_last_reply() -> None:
    rasa = RecordingRasa()
    async with serve_rest(rasa, open_channel()) as client:
        [greeting] = await client.say("r1", "你好")
        assert greeting["buttons"] == MENU["buttons"]
        assert await client.say("r1", "１") == [{"recipient_id": "r1", "text": "收到：办老年证"}]
        await client.say("r1", "1")  # the last reply had no buttons: just text
        await client.say("r1", "你好")
        await client.say("r1", "查办件进度。")
        await client.say("r1", "你好")
        await client.say("r1", "第三个")
    # A payload is screened like anything the resident types.
    assert rasa.texts() == [
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
    async with serve_rest(rasa, open_channel()) as client:
        await client.say("r2", "5")  # a household size: the question had no buttons
        rasa.answer = lambda _: [MENU]  # from now on every reply offers the menu
        await client.say("r2", "你好")
        for number in numbers:
            await client.say("r2", number)
        await client.say("r3", "1")  # someone else, never offered anything
    assert rasa.texts() == ["5", "你好", *numbers, "1"]


@pytest.mark.usefixtures("channels_in_redis")
async def test_a_digit_is_understood_on_another_replica() -> None:
    rasa = RecordingRasa()
    sender = f"resident-{uuid.uuid4().hex}"
    async with AsyncExitStack() as stack:
        first_channel = open_channel()
        first = await stack.enter_async_context(serve_rest(rasa, first_channel))
        second = await stack.enter_async_context(serve_rest(rasa, open_channel()))
        await first.say(sender, "你好")
        await second.say(sender, "2")
        await first_channel.options.forget(f"rest:{sender}")
    assert rasa.texts() == ["你好", "查进度"]
