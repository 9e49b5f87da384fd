"""The widget's socket.io channel without a model: sessions issued by the server and
bound to their socket, origins, bounded input, the guard, options picked by number or
title, the served files."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from connectors.guard import guard_texts
from connectors.webchat import (
    DEFAULT_ALLOWED_ORIGINS,
    MAX_PACKET_BYTES,
    SessionTokens,
    WebChatInput,
    parse_origins,
)
from tests.servers import free_port

ALLOWED = "http://127.0.0.1:5100"
FOREIGN = "http://127.0.0.1:5999"
SESSION_KEY = "k" * 40
DAY = 24 * 3600


MENU = {
    "text": "您好！请问办什么事？",
    "buttons": [
        {"title": "办老年证", "payload": "办老年证"},
        {"title": "查办件进度", "payload": "查进度"},
    ],
}


@dataclass
class Server:
    url: str
    channel: WebChatInput
    received: list[UserMessage] = field(default_factory=list)

    async def received_texts(self, count: int) -> list[str]:
        """The texts of the first `count` messages that reached Rasa, once they have."""
        for _ in range(100):
            if len(self.received) >= count:
                break
            await asyncio.sleep(0.05)
        return [message.text for message in self.received]


@pytest_asyncio.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    """The channel on a real Sanic server on loopback, recording what reaches Rasa;
    a greeting is answered with a menu, anything else with a plain text."""
    # Sanic 21.12 rewrites its own methods at each app start; only test mode allows
    # several apps to start in one process.
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("WEBCHAT_SESSION_KEY", SESSION_KEY)
    channel = WebChatInput.from_credentials(
        {"allowed_origins": f"{ALLOWED}/, http://localhost:5100"}
    )
    app = Sanic(f"webchat_test_{uuid.uuid4().hex}")
    port = free_port()
    running = Server(f"http://127.0.0.1:{port}", channel)

    async def record(message: UserMessage) -> None:
        running.received.append(message)
        reply = MENU if message.text == "你好" else {"text": "好的"}
        await message.output_channel.send_response(message.sender_id, dict(reply))

    app.blueprint(channel.blueprint(record), url_prefix=f"/webhooks/{channel.url_prefix()}")
    http_server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await http_server.startup()
    await http_server.before_start()
    await http_server.after_start()
    yield running
    await channel.sio.shutdown()  # stops Engine.IO's ping tasks before the loop closes
    await http_server.before_stop()
    await http_server.close()
    await http_server.after_stop()


async def polling_handshake(url: str, origin: str | None) -> aiohttp.ClientResponse:
    headers = {"Origin": origin} if origin else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/socket.io/?EIO=4&transport=polling", headers=headers) as resp,
    ):
        await resp.read()
        return resp


class RawSocket:
    """A socket.io client speaking the wire protocol over a websocket, as browsers do.

    python-socketio's AsyncClient is not used: its websocket transport needs
    aiohttp>=3.10 (the lock pins 3.9.5), and over polling its disconnect waits ~30 s
    for the pending long-poll.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def emit(self, event: str, data: object) -> None:
        await self.ws.send_str("42" + json.dumps([event, data]))

    async def receive(self, event: str) -> Any:
        """The data of the next `event` message, skipping other packets."""
        while True:
            packet = await asyncio.wait_for(self.ws.receive_str(), 5)
            if packet.startswith("42"):
                name, data = json.loads(packet[2:])
                if name == event:
                    return data

    async def confirm(self, request: object) -> dict[str, str]:
        """Sends a session request; the server's confirmation (session id and token)."""
        await self.emit("session_request", request)
        return await self.receive("session_confirm")

    async def session(self, token: str | None = None) -> str:
        """A session for this socket; its conversation id."""
        confirmed = await self.confirm({"token": token})
        return f"socketio:{confirmed['session_id']}"


@asynccontextmanager
async def raw_socket(url: str, origin: str) -> AsyncIterator[RawSocket]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", origin=origin) as ws,
    ):
        assert (await ws.receive_str()).startswith("0{")  # Engine.IO open
        await ws.send_str("40")  # Socket.IO connect to the default namespace
        assert (await ws.receive_str()).startswith("40")
        yield RawSocket(ws)


def test_origins_from_credentials() -> None:
    assert parse_origins(None) == frozenset(DEFAULT_ALLOWED_ORIGINS)
    # `${WEBCHAT_ALLOWED_ORIGINS}` arrives as one comma-separated string.
    assert parse_origins(" https://a.example/, https://b.example ,") == {
        "https://a.example",
        "https://b.example",
    }
    assert parse_origins(["https://a.example"]) == {"https://a.example"}
    assert parse_origins("") == frozenset()


async def test_polling_handshake_checks_origin(server: Server) -> None:
    refused = await polling_handshake(server.url, FOREIGN)
    assert refused.status == 400

    accepted = await polling_handshake(server.url, ALLOWED)
    assert accepted.status == 200
    assert accepted.headers["Access-Control-Allow-Origin"] == ALLOWED

    # Non-browser clients (the benchmark) send no Origin and are no cross-site risk.
    assert (await polling_handshake(server.url, None)).status == 200


async def test_websocket_checks_origin(server: Server) -> None:
    url = f"{server.url}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, origin=FOREIGN)
    assert refused.value.status == 400
    async with raw_socket(server.url, "http://localhost:5100") as client:
        assert await client.session()


async def test_no_origin_allowed_when_configured_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCHAT_SESSION_KEY", SESSION_KEY)
    channel = WebChatInput.from_credentials({"allowed_origins": ""})
    assert not channel.origin_allowed(ALLOWED)


async def test_leading_slash_reaches_rasa_as_text(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        conversation = await client.session()
        await client.emit("user_uttered", {"message": "/restart", "metadata": {"x": "1" * 500}})
        await client.receive("bot_uttered")

    [message] = server.received
    assert message.text == "／restart"
    assert message.sender_id == conversation
    assert message.input_channel == "socketio"
    assert not message.metadata


async def test_empty_message_answered_kindly(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        await client.session()
        await client.emit("user_uttered", {"message": "   "})
        # Replies go to the session's room: this also checks the socket joined it.
        assert await client.receive("bot_uttered") == {"text": guard_texts().empty}
    assert server.received == []


async def test_a_digit_or_a_title_picks_a_button_of_the_last_reply(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        await client.session()

        async def say(text: str) -> None:
            # One at a time, as a resident waits for the answer (the guard stops floods).
            count = len(server.received)
            await client.emit("user_uttered", {"message": text})
            await server.received_texts(count + 1)

        await say("你好")
        menu = await client.receive("bot_uttered")
        assert [choice["title"] for choice in menu["quick_replies"]] == ["办老年证", "查办件进度"]
        await say("第二个")
        await say("你好")
        await say("查进度")  # a tapped button sends its payload
        await say("你好")
        await say("办老年证！")
        await say("1")  # no menu after the last reply: just text
    assert [message.text for message in server.received] == [
        "你好",
        "查进度",
        "你好",
        "查进度",
        "你好",
        "办老年证",
        "1",
    ]


async def test_a_menu_sent_outside_a_turn_can_be_picked(server: Server) -> None:
    output = server.channel.get_output_channel()
    assert output is not None
    async with raw_socket(server.url, ALLOWED) as client:
        conversation = await client.session()
        # As a staff reply through Rasa's HTTP API would arrive.
        await output.send_response(conversation, dict(MENU))
        await client.receive("bot_uttered")
        await client.emit("user_uttered", {"message": "２"})
        assert await server.received_texts(1) == ["查进度"]


async def test_widget_files_served(server: Server) -> None:
    base = f"{server.url}/webhooks/socketio"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/widget.js") as resp:
            assert resp.status == 200
            assert resp.content_type == "application/javascript"
            widget = await resp.text()
        assert '"socketPath": "/socket.io"' in widget
        assert "__DAAN_CHAT_SERVER_CONFIG__" not in widget
        for name, content_type in [("widget.css", "text/css"), ("socket.io.min.js", None)]:
            async with http.get(f"{base}/{name}") as resp:
                assert resp.status == 200
                assert content_type in (None, resp.content_type)
        async with http.get(f"{base}/demo.html") as resp:
            assert resp.status == 404


# --- sessions: issued by the server, bound to the socket that holds them -------------


@pytest.mark.parametrize(
    "request_data",
    [
        None,
        {},
        {"session_id": "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"},  # an id the client chose
        {"session_id": "../../etc"},
        {"token": "v1.a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4.1800000000." + "0" * 64},
        {"token": ["not", "a", "token"]},
        "a1b2c3d4e5f6",
    ],
)
async def test_the_server_issues_session_ids(server: Server, request_data: object) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        confirmed = await client.confirm(request_data)
    session_id = confirmed["session_id"]
    assert len(session_id) == 32 and int(session_id, 16) >= 0
    assert session_id not in json.dumps(request_data)
    assert server.channel.tokens.session_in(confirmed["token"]) == session_id


def joining_attempts(victim: dict[str, str]) -> list[dict[str, str]]:
    """Session requests naming the victim's session without its genuine token."""
    return [
        {"session_id": victim["session_id"]},
        {"session_id": victim["session_id"], "token": "forged"},
        {"token": victim["token"].replace("v1.", "v2.")},
        {"token": victim["token"][:-1] + ("1" if victim["token"][-1] == "0" else "0")},
        {"token": SessionTokens("o" * 40, DAY).issue(victim["session_id"])},
    ]


async def test_a_second_socket_cannot_join_a_victims_session(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as victim:
        victim_session = await victim.confirm({"token": None})
        for attempt in joining_attempts(victim_session):
            async with raw_socket(server.url, ALLOWED) as attacker:
                confirmed = await attacker.confirm(attempt)
                assert confirmed["session_id"] != victim_session["session_id"]
                await victim.emit("user_uttered", {"message": "我的电话是13812345678"})
                assert await victim.receive("bot_uttered") == {"text": "好的"}
                await attacker.emit("user_uttered", {"message": "你好"})
                # Packets arrive in order: had the attacker joined the victim's room,
                # the victim's reply would have come first.
                assert (await attacker.receive("bot_uttered"))["text"] == MENU["text"]
    victim_id = f"socketio:{victim_session['session_id']}"
    senders = [message.sender_id for message in server.received]
    assert senders[::2] == [victim_id] * len(joining_attempts(victim_session))
    assert victim_id not in senders[1::2]


async def test_a_message_speaks_only_for_the_sockets_own_session(server: Server) -> None:
    async with (
        raw_socket(server.url, ALLOWED) as victim,
        raw_socket(server.url, ALLOWED) as attacker,
    ):
        victim_conversation = await victim.session()
        victim_session_id = victim_conversation.removeprefix("socketio:")
        attacker_conversation = await attacker.session()
        for session_id in (victim_session_id, victim_conversation):
            await attacker.emit("user_uttered", {"message": "不办了", "session_id": session_id})
            await attacker.receive("bot_uttered")
    assert [message.sender_id for message in server.received] == [attacker_conversation] * 2


async def test_a_socket_without_a_session_is_not_heard(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        await client.emit("user_uttered", {"message": "不办了", "session_id": "a1b2c3d4"})
        conversation = await client.session()
        await client.emit("user_uttered", {"message": "你好"})
        await client.receive("bot_uttered")
    assert [(m.sender_id, m.text) for m in server.received] == [(conversation, "你好")]


async def test_a_token_rejoins_its_conversation_from_a_new_socket(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as first:
        confirmed = await first.confirm({"token": None})
        await first.emit("user_uttered", {"message": "你好"})
        await first.receive("bot_uttered")
    # The page reloads: a new socket presents the stored token.
    async with raw_socket(server.url, ALLOWED) as second:
        again = await second.confirm({"token": confirmed["token"]})
        assert again["session_id"] == confirmed["session_id"]
        await second.emit("user_uttered", {"message": "2"})
        assert await second.receive("bot_uttered") == {"text": "好的"}
        # A request without a token ("clear conversation") starts a new one.
        fresh = await second.confirm({"token": None})
        assert fresh["session_id"] != confirmed["session_id"]
    first_id, second_id = (message.sender_id for message in server.received)
    assert first_id == second_id == f"socketio:{confirmed['session_id']}"
    assert [message.text for message in server.received] == ["你好", "查进度"]


def test_tokens_expire_and_cannot_be_altered() -> None:
    now = [1_800_000_000.0]
    tokens = SessionTokens("k" * 40, DAY, clock=lambda: now[0])
    session_id = "0123456789abcdef0123456789abcdef"
    token = tokens.issue(session_id)
    version, _, issued, signature = token.split(".")
    assert (version, issued) == ("v1", "1800000000")

    now[0] += DAY
    assert tokens.session_in(token) == session_id
    now[0] += 1
    assert tokens.session_in(token) is None
    now[0] = 1_800_000_000.0 - 61  # issued more than a minute "in the future"
    assert tokens.session_in(token) is None
    now[0] = 1_800_000_000.0
    other_session = "f" * 32
    for forged in [
        f"v1.{other_session}.{issued}.{signature}",
        f"v1.{session_id}.{int(issued) + DAY}.{signature}",
        f"v1.{session_id}.{issued}.{signature.upper()}",
        f"v1.{session_id}.{issued}.{signature[:-2]}",
        f"v1.{session_id}.{issued}",
        SessionTokens("o" * 40, DAY, clock=lambda: now[0]).issue(session_id),
        token + " ",
        None,
        12345,
    ]:
        assert tokens.session_in(forged) is None, forged


@pytest.mark.parametrize("key", [None, "", "k" * 31])
def test_the_channel_needs_a_session_key(monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    if key is None:
        monkeypatch.delenv("WEBCHAT_SESSION_KEY", raising=False)
    else:
        monkeypatch.setenv("WEBCHAT_SESSION_KEY", key)
    with pytest.raises(ValueError, match="WEBCHAT_SESSION_KEY"):
        WebChatInput.from_credentials({"allowed_origins": ALLOWED})


def test_the_token_lifetime_comes_from_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCHAT_SESSION_KEY", SESSION_KEY)
    channel = WebChatInput.from_credentials({"session_token_hours": 1})
    token = channel.tokens.issue("0123456789abcdef0123456789abcdef")
    assert SessionTokens(SESSION_KEY, 3600).session_in(token)
    with pytest.raises(ValueError, match="session_token_hours"):
        WebChatInput.from_credentials({"session_token_hours": 0})


# --- bounded input ---------------------------------------------------------------------


async def test_an_oversized_packet_closes_the_socket(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        await client.session()
        await client.emit("user_uttered", {"message": "啊" * MAX_PACKET_BYTES})
        closed = await asyncio.wait_for(client.ws.receive(), 5)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert server.received == []


@pytest.mark.parametrize("payload", [{"message": 123}, {"message": ["你好"]}, {}, "你好", None])
async def test_a_message_that_is_not_text_is_ignored(server: Server, payload: object) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        await client.session()
        await client.emit("user_uttered", payload)
        await client.emit("user_uttered", {"message": "你好"})
        await client.receive("bot_uttered")
    assert [message.text for message in server.received] == ["你好"]
