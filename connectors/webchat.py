"""The web chat widget's channel: Rasa's socket.io input, guarded and origin-restricted.

It keeps Rasa's channel name `socketio`, so trackers, the store's `channel` field and
`output_channel=socketio` on Rasa's HTTP API mean the same as with the built-in channel
(which must not be enabled beside it: both would claim `/socket.io`).

Differences from the built-in channel:
- only the configured page origins may open a socket (rasa 3.6.21 disables the check);
- every message goes through `connectors.guard.guarded`, which also reads a digit or a
  button's title as the button it picks (connectors/options.py);
- session persistence is always on, so a reconnecting page rejoins its conversation
  (with a fixed `session_request` handler, see `WebChatInput.session_request`);
- the widget's files are served from the channel's blueprint, so a district page embeds
  it with one script tag and nothing loads from outside at run time.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from rasa.core.channels import socketio
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.guard import MAX_MESSAGE_CHARS, guarded
from connectors.options import OfferingOutput, closed_on_stop, option_memory

logger = logging.getLogger(__name__)

# Ids the widget gets from this server (uuid4 hex); anything else is replaced.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")

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


class WebChatInput(socketio.SocketIOInput):
    """Rasa's socket.io input for the widget, restricted to configured page origins."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # Rasa's jwt options are not offered: residents have no token to present.
        credentials = credentials or {}
        return cls(
            allowed_origins=parse_origins(credentials.get("allowed_origins")),
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            metadata_key=credentials.get("metadata_key", "metadata"),
        )

    def __init__(self, allowed_origins: Iterable[str], **kwargs: Any) -> None:
        # Without persistence a reload or reconnect would start a new conversation.
        super().__init__(session_persistence=True, **kwargs)
        self.allowed_origins = frozenset(allowed_origins)
        self.options = option_memory(self.name())
        if not self.allowed_origins:
            logger.warning("webchat: no allowed_origins configured; no web page can connect")

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a page from this origin may open a socket.

        Engine.IO only asks when the request carries an Origin header, which browsers
        always send for sockets and cross-origin requests; servers and scripts (the
        benchmark) send none and are not a cross-site risk.
        """
        return origin in self.allowed_origins

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = closed_on_stop(super().blueprint(guarded(on_new_message, self.options)), self.options)
        # Rasa builds the server with cors_allowed_origins=[], which switches Origin
        # validation off. Reusing Rasa's blueprint (its session and message handlers)
        # and then setting the check beats copying them. A callable rather than a list:
        # an empty list would mean "allow everything" to Engine.IO.
        self.sio.eio.cors_allowed_origins = self.origin_allowed
        self.sio.on("session_request", self.session_request, namespace=self.namespace)

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

    async def session_request(self, sid: str, data: dict[str, Any] | None) -> None:
        """Put the socket in its conversation's room, replacing Rasa's handler.

        Rasa's handler calls `enter_room` without awaiting it (a coroutine in the
        pinned python-socketio 5.18), so the socket never joins the room and replies addressed
        to the session never arrive. A malformed id gets a fresh one, and leaving the
        previous room means "clear conversation" really starts a new one.
        """
        session_id = data.get("session_id") if isinstance(data, dict) else None
        if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
            session_id = uuid.uuid4().hex
        for room in self.sio.rooms(sid, namespace=self.namespace):
            if room != sid:
                await self.sio.leave_room(sid, room, namespace=self.namespace)
        await self.sio.enter_room(sid, session_id, namespace=self.namespace)
        await self.sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

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
