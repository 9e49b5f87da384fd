"""The web chat widget's channel: Rasa's socket.io input, guarded and origin-restricted,
with sessions issued by the server and bound to the socket that holds them.

It keeps Rasa's channel name `socketio`, so the store's `channel` field and
`output_channel=socketio` on Rasa's HTTP API mean the same as with the built-in channel
(which must not be enabled beside it: both would claim `/socket.io`).

Sessions. With Rasa's channel the browser chose its session id and any socket naming
it joined the conversation: a second socket heard every reply, a third could speak in
it. Here:

- `session_request` carries `{"token": <token or null>}`. A valid token rejoins its
  session; anything else (no token, a session id the client made up, an expired or
  forged token) gets a new session: 128 random bits, `secrets.token_hex(16)`.
- `session_confirm` answers `{"session_id": <id>, "token": <token>}`, a fresh token
  each time (so a widget in use keeps a valid one); the widget keeps it in
  localStorage for reloads and reconnects.
- A token is `v1.<session id>.<issued at, unix seconds>.<hex HMAC-SHA256 with
  WEBCHAT_SESSION_KEY over "v1.<session id>.<issued at>">`, valid for
  `session_token_hours` (credentials; default 24) after it was issued. The key (at
  least 32 characters) must be the same on every replica and survives restarts, so a
  reconnecting page keeps its conversation; without it the channel does not start.
- A socket sends and receives only for the session it was confirmed: `user_uttered`
  ignores any `session_id` in its payload, and a socket that has no session yet is not
  heard. The conversation id is `socketio:<session id>`, which is also the room the
  replies go to.

Inputs: an Engine.IO packet over `MAX_PACKET_BYTES` closes the socket; `message` must be
a string (the guard answers empty and over-long ones kindly; anything else is ignored);
`metadata` is dropped and the input channel is the server's. Nothing logs what was sent.

Also different from the built-in channel:
- only the configured page origins may open a socket (rasa 3.6.21 disables the check);
- every message goes through `connectors.guard.guarded`, which also reads a digit or a
  button's title as the button it picks (connectors/options.py);
- the widget's files are served from the channel's blueprint, so a district page embeds
  it with one script tag and nothing loads from outside at run time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from rasa.core.channels import socketio
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.guard import MAX_MESSAGE_CHARS, guarded
from connectors.notices import NOT_CONNECTED, Notice, NoticeSource
from connectors.options import OfferingOutput, closed_on_stop, option_memory

logger = logging.getLogger(__name__)

SESSION_KEY_VARIABLE = "WEBCHAT_SESSION_KEY"
MIN_SESSION_KEY_CHARS = 32
# How long a widget may rejoin its conversation after it last connected. Rasa starts a
# new session after an hour of silence anyway (domain.yml); a day keeps the history a
# resident sees on screen useful without leaving a bearer token valid for long on a
# shared computer.
DEFAULT_SESSION_TOKEN_HOURS = 24.0
TOKEN_VERSION = "v1"
TOKEN = re.compile(r"v1\.([0-9a-f]{32})\.([0-9]{1,12})\.([0-9a-f]{64})")
# Tokens are made by replicas whose clocks may differ a little.
CLOCK_SKEW_SECONDS = 60
# A message is at most 500 characters (connectors/guard.py): with JSON escapes and the
# Socket.IO framing it stays far below this. Engine.IO's default is 1 MB.
MAX_PACKET_BYTES = 16 * 1024

STATIC_DIR = Path(__file__).with_name("webchat_static")

# The embedded setup serves the district's demo page from the backend on port 5100.
DEFAULT_ALLOWED_ORIGINS = ("http://127.0.0.1:5100", "http://localhost:5100")

# Placeholder in widget.js replaced by the channel's settings, so the widget always
# uses the socket path and event names this server was configured with.
CONFIG_PLACEHOLDER = "__DAAN_CHAT_SERVER_CONFIG__"

JS = "application/javascript; charset=utf-8"
# URL name → (file under STATIC_DIR, content type).
STATIC_FILES = {
    "widget.js": ("widget.js", JS),
    "widget.css": ("widget.css", "text/css; charset=utf-8"),
    "socket.io.min.js": ("vendor/socket.io.min.js", JS),
}


def parse_origins(value: str | Iterable[str] | None) -> frozenset[str]:
    """Origins from credentials: a YAML list, or a comma-separated string (as `${VAR}` gives).

    Origins are compared exactly with the browser's Origin header, so a trailing slash
    (a common copy-paste from the address bar) is dropped.
    """
    if value is None:
        return frozenset(DEFAULT_ALLOWED_ORIGINS)
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip().rstrip("/") for item in items if item and item.strip())


class SessionTokens:
    """Issues and checks the tokens a widget presents to rejoin its session."""

    def __init__(
        self, key: str, lifetime_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) < MIN_SESSION_KEY_CHARS:
            raise ValueError(
                f"{SESSION_KEY_VARIABLE} must be set to at least {MIN_SESSION_KEY_CHARS} characters"
            )
        self._key = key.encode("utf-8")
        self._lifetime = lifetime_seconds
        self._clock = clock

    def issue(self, session_id: str) -> str:
        signed = f"{TOKEN_VERSION}.{session_id}.{int(self._clock())}"
        return f"{signed}.{self._signature(signed)}"

    def session_in(self, token: object) -> str | None:
        """The session id of a genuine, unexpired token, else None."""
        match = TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            return None
        session_id, issued, signature = match.groups()
        expected = self._signature(f"{TOKEN_VERSION}.{session_id}.{issued}")
        if not hmac.compare_digest(expected, signature):
            return None
        age = self._clock() - int(issued)
        if not -CLOCK_SKEW_SECONDS <= age <= self._lifetime:
            return None
        return session_id

    def _signature(self, signed: str) -> str:
        return hmac.new(self._key, signed.encode("ascii"), hashlib.sha256).hexdigest()


def new_session_id() -> str:
    return secrets.token_hex(16)


def conversation_id(session_id: str) -> str:
    return f"socketio:{session_id}"


def widget_message(notice: Notice) -> dict[str, Any]:
    """A notice as the widget receives a bot reply: buttons as Rasa's socket.io output
    sends them (`quick_replies`)."""
    message: dict[str, Any] = {"text": notice.text}
    if notice.buttons:
        message["quick_replies"] = [
            {"content_type": "text", "title": button.title, "payload": button.payload}
            for button in notice.buttons
        ]
    return message


def session_tokens(credentials: Mapping[str, Any], environ: Mapping[str, str]) -> SessionTokens:
    hours = float(credentials.get("session_token_hours", DEFAULT_SESSION_TOKEN_HOURS))
    if hours <= 0:
        raise ValueError("session_token_hours must be positive")
    return SessionTokens(environ.get(SESSION_KEY_VARIABLE) or "", hours * 3600)


class WebChatInput(socketio.SocketIOInput):
    """Rasa's socket.io input for the widget, restricted to configured page origins."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # Rasa's jwt options are not offered: residents have no token to present.
        credentials = credentials or {}
        return cls(
            allowed_origins=parse_origins(credentials.get("allowed_origins")),
            tokens=session_tokens(credentials, os.environ),
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
        )

    def __init__(
        self, allowed_origins: Iterable[str], tokens: SessionTokens, **kwargs: Any
    ) -> None:
        # Persistence: a reload or reconnect continues its conversation (by token).
        super().__init__(session_persistence=True, **kwargs)
        self.allowed_origins = frozenset(allowed_origins)
        self.tokens = tokens
        self.options = option_memory(self.name())
        self._notices: NoticeSource | None = None
        if not self.allowed_origins:
            logger.warning("webchat: no allowed_origins configured; no web page can connect")

    def attach_notices(self, source: NoticeSource) -> None:
        """Staff notices: pushed to the sessions connected to this server, and what
        waits for a session given when it connects again."""
        self._notices = source

    def notice_reach(self) -> list[str]:
        """The conversations with a socket connected to this server (python-socketio
        keeps rooms per process, so each replica sees its own)."""
        rooms = self.sio.manager.rooms.get(self.namespace or "/", {})
        return [
            room
            for room, members in rooms.items()
            if isinstance(room, str) and room.startswith("socketio:") and members
        ]

    async def push_notice(self, notice: Notice) -> str | None:
        """Emitted like a bot reply to the session's sockets, if one is connected here;
        the last thing shown, so its buttons are what a digit picks from."""
        if notice.conversation_id not in self.notice_reach():
            return NOT_CONNECTED
        # Before the emit: a resident answering at once must find the options.
        await self.options.remember(notice.conversation_id, [notice.message()])
        await self.sio.emit(
            self.bot_message_evt,
            widget_message(notice),
            room=notice.conversation_id,
            namespace=self.namespace,
        )
        return None

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a page from this origin may open a socket.

        Engine.IO only asks when the request carries an Origin header, which browsers
        always send for sockets and cross-origin requests; servers and scripts (the
        benchmark) send none and are not a cross-site risk.
        """
        return origin in self.allowed_origins

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self._handle = guarded(on_new_message, self.options)
        bp = closed_on_stop(super().blueprint(self._handle), self.options)
        # Rasa builds the server with cors_allowed_origins=[], which switches Origin
        # validation off. Reusing Rasa's blueprint (its server and routes) and then
        # replacing the check and the session and message handlers beats copying it.
        # A callable rather than a list: an empty list means "allow everything".
        self.sio.eio.cors_allowed_origins = self.origin_allowed
        self.sio.eio.max_http_buffer_size = MAX_PACKET_BYTES
        self.sio.on("session_request", self.session_request, namespace=self.namespace)
        self.sio.on(self.user_message_evt, self.handle_message, namespace=self.namespace)

        files = self._static_files()

        @bp.route("/<name:str>", methods=["GET"])
        async def static(_: Request, name: str) -> HTTPResponse:
            if name not in files:
                return response.text("not found", status=404)
            body, content_type = files[name]
            return response.raw(
                body,
                content_type=content_type,
                headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
            )

        return bp

    def get_output_channel(self) -> OutputChannel | None:
        """Rasa's output for messages sent outside a turn (HTTP API), remembering their
        buttons as the resident's options."""
        output = super().get_output_channel()
        return OfferingOutput(output, self.options) if output is not None else None

    async def session_request(self, sid: str, data: Any) -> None:
        """Bind the socket to the session its token names, or to a new one.

        Replaces Rasa's handler, which let the client name any session, and did not
        await `enter_room` (a coroutine in the pinned python-socketio 5.18), so replies
        addressed to the session never arrived. Leaving the previous room means "clear
        conversation" (a request without a token) really starts a new one.
        """
        token = data.get("token") if isinstance(data, dict) else None
        rejoined = self.tokens.session_in(token)
        session_id = rejoined or new_session_id()
        room = conversation_id(session_id)
        for joined in self.sio.rooms(sid, namespace=self.namespace):
            if joined != sid:
                await self.sio.leave_room(sid, joined, namespace=self.namespace)
        await self.sio.enter_room(sid, room, namespace=self.namespace)
        await self.sio.save_session(sid, {"conversation": room}, namespace=self.namespace)
        confirmation = {"session_id": session_id, "token": self.tokens.issue(session_id)}
        await self.sio.emit("session_confirm", confirmation, room=sid, namespace=self.namespace)
        if rejoined and self._notices is not None:
            await self._give_waiting_notices(self._notices, sid, room)

    async def _give_waiting_notices(self, source: NoticeSource, sid: str, room: str) -> None:
        """What staff sent while the widget was closed, to the socket that came back."""
        notices = await source.take(room)
        if not notices:
            return
        await self.options.remember(room, [notice.message() for notice in notices])
        for notice in notices:
            await self.sio.emit(
                self.bot_message_evt, widget_message(notice), room=sid, namespace=self.namespace
            )
        await source.given(notices)

    async def handle_message(self, sid: str, data: Any) -> None:
        """A message from a socket, in the conversation of the session it holds."""
        session = await self.sio.get_session(sid, namespace=self.namespace)
        conversation = session.get("conversation")
        text = data.get("message") if isinstance(data, dict) else None
        if conversation is None or not isinstance(text, str):
            logger.debug("webchat: a message without a session or text was ignored")
            return
        output = SocketIOOutput(self.sio, self.bot_message_evt)
        # No metadata: nothing the page adds reaches the conversation.
        await self._handle(UserMessage(text, output, conversation, input_channel=self.name()))

    def _static_files(self) -> dict[str, tuple[bytes, str]]:
        """The widget's files, read once: they are small and fixed while the server runs."""
        config = json.dumps(
            {
                "socketPath": self.socketio_path,
                "namespace": self.namespace or "/",
                "userEvent": self.user_message_evt,
                "botEvent": self.bot_message_evt,
                "maxChars": MAX_MESSAGE_CHARS,
            },
            ensure_ascii=False,
        )
        files = {}
        for name, (relative_path, content_type) in STATIC_FILES.items():
            text = (STATIC_DIR / relative_path).read_text(encoding="utf-8")
            if name == "widget.js":
                text = text.replace(CONFIG_PLACEHOLDER, config)
            files[name] = (text.encode("utf-8"), content_type)
        return files
