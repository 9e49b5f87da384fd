"""The widget's socket.io channel without a model: origins, the guard, options picked
by number or title, the served files."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from connectors.guard import EMPTY_REPLY
from connectors.webchat import DEFAULT_ALLOWED_ORIGINS, WebChatInput, parse_origins
from tests.servers import free_port

ALLOWED = "http://127.0.0.1:5100"
FOREIGN = "http://127.0.0.1:5999"


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

    async def receive(self, event: str) -> object:
        """The data of the next `event` message, skipping other packets."""
        while True:
            packet = await asyncio.wait_for(self.ws.receive_str(), 5)
            if packet.startswith("42"):
                name, data = json.loads(packet[2:])
                if name == event:
                    return data

    async def session(self) -> str:
        await self.emit("session_request", {"session_id": None})
        return str(await self.receive("session_confirm"))


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


async def test_no_origin_allowed_when_configured_empty() -> None:
    channel = WebChatInput.from_credentials({"allowed_origins": ""})
    assert not channel.origin_allowed(ALLOWED)


async def test_leading_slash_reaches_rasa_as_text(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        session_id = await client.session()
        await client.emit("user_uttered", {"message": "/restart", "session_id": session_id})
        for _ in range(100):
            if server.received:
                break
            await asyncio.sleep(0.05)

    [message] = server.received
    assert message.text == "／restart"
    assert message.sender_id == session_id
    assert message.input_channel == "socketio"


async def test_empty_message_answered_kindly(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        session_id = await client.session()
        await client.emit("user_uttered", {"message": "   ", "session_id": session_id})
        # Replies go to the session's room: this also checks the socket joined it.
        assert await client.receive("bot_uttered") == {"text": EMPTY_REPLY}
    assert server.received == []


async def test_a_digit_or_a_title_picks_a_button_of_the_last_reply(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        session_id = await client.session()

        async def say(text: str) -> None:
            # One at a time, as a resident waits for the answer (the guard stops floods).
            count = len(server.received)
            await client.emit("user_uttered", {"message": text, "session_id": session_id})
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
        session_id = await client.session()
        # As a staff reply through Rasa's HTTP API would arrive.
        await output.send_response(session_id, dict(MENU))
        await client.receive("bot_uttered")
        await client.emit("user_uttered", {"message": "２", "session_id": session_id})
        assert await server.received_texts(1) == ["查进度"]


async def test_session_id_kept_or_replaced(server: Server) -> None:
    async with raw_socket(server.url, ALLOWED) as client:
        await client.emit("session_request", {"session_id": "a1b2c3d4e5f6"})
        assert await client.receive("session_confirm") == "a1b2c3d4e5f6"
        await client.emit("session_request", {"session_id": "../../etc"})
        assert await client.receive("session_confirm") != "../../etc"


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
