"""The REST channel (`POST /webhooks/rest/webhook`): for the district's other systems,
authenticated per client, with every message screened by the public-channel guard.

Rasa's own REST channel trusts its body: any caller could name any conversation as
`sender` (a WeChat resident's OpenID, a widget session), a missing sender put everyone
into one conversation `default`, and `metadata` and `input_channel` went into the
tracker as sent. Here the channel decides who is talking:

Authentication, chosen explicitly per deployment in the channel's credentials
(`authentication:`); a missing or unknown value stops the server from starting:

- `signed` (production, `credentials.production.yml`): every request is signed by one
  of the clients in `REST_CLIENT_SECRETS` (`client1=secret1,client2=secret2`; client ids
  `[A-Za-z0-9_-]{1,32}`, secrets at least 32 characters). Three headers:

      X-Daan-Client:     the client id
      X-Daan-Timestamp:  the time of signing, whole seconds since 1970 (UTC)
      X-Daan-Signature:  hex(HMAC-SHA256(secret, timestamp + "." + raw body bytes))

  The signature covers the exact bytes sent as the body. A timestamp more than
  `SIGNATURE_WINDOW_SECONDS` (300) before or after the server's clock is refused, and
  so is a signature already accepted within the window (kept for twice the window,
  the whole time its timestamp stays acceptable; shared by replicas through
  `CHANNELS_REDIS_URL`): a captured request cannot be replayed. Signatures are compared
  in constant time. Failures answer 401 `{"error": "unauthorized" | "stale_timestamp" |
  "replayed"}`; an unknown client and a wrong signature look the same. The
  conversation is `rest:<client>:<sender>`, so one client can never reach another's.

  An integrator signs a request like this::

      import hashlib, hmac, json, time, urllib.request

      body = json.dumps({"sender": "case-1024", "message": "老年证咋个办"}).encode()
      timestamp = str(int(time.time()))
      signature = hmac.new(
          SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
      ).hexdigest()
      request = urllib.request.Request(
          "https://<host>/webhooks/rest/webhook",
          data=body,
          headers={
              "Content-Type": "application/json",
              "X-Daan-Client": "hotline",
              "X-Daan-Timestamp": timestamp,
              "X-Daan-Signature": signature,
          },
      )
      replies = json.load(urllib.request.urlopen(request))

- `none` (only the embedded local profile, `credentials.yml`, and the tests, as the
  README says; never behind a public proxy): anyone who can reach the port may talk,
  and the conversation is `rest:<sender>`.

The body is a JSON object of at most `MAX_BODY_BYTES`: `sender` (required,
`SENDER_PATTERN`: 1-64 of `A-Z a-z 0-9 _ . -`; no colon, so it cannot reach into
another namespace) and `message` (a string; the guard answers empty and over-long ones
kindly). `metadata`, `input_channel` and any other field are ignored: the channel name
is the server's, and nothing the caller adds reaches the conversation. Anything else is
refused with 400 `{"error": ...}` (413 for a body over the cap). The replies are Rasa's,
each with `recipient_id` set to the sender as sent. Nothing logs the request body.
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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.guard import guarded
from connectors.notices import NoticeSource
from connectors.options import closed_on_stop, option_memory, redis_url
from connectors.state import ChannelState, MemoryState, RedisState

logger = logging.getLogger(__name__)

CLIENT_SECRETS_VARIABLE = "REST_CLIENT_SECRETS"
AUTHENTICATION_SIGNED = "signed"
AUTHENTICATION_NONE = "none"

# A message is at most 500 characters (connectors/guard.py); even written as \uXXXX
# escapes that stays far below this.
MAX_BODY_BYTES = 16 * 1024
SENDER_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
CLIENT_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
MIN_SECRET_CHARS = 32
SIGNATURE_WINDOW_SECONDS = 300
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")
# Signatures remembered by one process when not in Redis; far more than the requests of
# ten minutes of any integration.
MAX_REMEMBERED_SIGNATURES = 100_000

CLIENT_HEADER = "X-Daan-Client"
TIMESTAMP_HEADER = "X-Daan-Timestamp"
SIGNATURE_HEADER = "X-Daan-Signature"


class BadRequest(Exception):
    """A request refused before it reaches the guard: (status, short error code)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a client sends in `X-Daan-Signature`."""
    signed = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def parse_client_secrets(value: str | None) -> dict[str, str]:
    """`client1=secret1,client2=secret2` as a mapping; refuses anything malformed."""
    known: dict[str, str] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        client, separator, secret = item.strip().partition("=")
        if not separator or not CLIENT_PATTERN.fullmatch(client):
            raise ValueError(f"{CLIENT_SECRETS_VARIABLE}: malformed entry for a client id")
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(
                f"{CLIENT_SECRETS_VARIABLE}: the secret of {client} is shorter than "
                f"{MIN_SECRET_CHARS} characters"
            )
        if client in known:
            raise ValueError(f"{CLIENT_SECRETS_VARIABLE}: {client} is listed twice")
        known[client] = secret
    return known


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the prefix of their conversation ids."""

    namespace: str


class Access(Protocol):
    """How the channel learns who sent a request."""

    async def caller(self, request: Request, body: bytes) -> Caller:
        """The authenticated caller, or BadRequest(401, ...)."""

    async def close(self) -> None: ...


class OpenAccess:
    """`authentication: none`: every caller is the one local caller."""

    async def caller(self, request: Request, body: bytes) -> Caller:
        return Caller("rest")

    async def close(self) -> None:
        return None


class SignedAccess:
    """`authentication: signed`: a client's HMAC over the timestamp and the body."""

    def __init__(
        self,
        client_secrets: Mapping[str, str],
        seen: ChannelState,
        clock: Callable[[], float] = time.time,
        window: int = SIGNATURE_WINDOW_SECONDS,
    ) -> None:
        if not client_secrets:
            raise ValueError(f"authentication: signed needs clients in {CLIENT_SECRETS_VARIABLE}")
        self._secrets = dict(client_secrets)
        self._seen = seen
        self._clock = clock
        self._window = window

    async def caller(self, request: Request, body: bytes) -> Caller:
        client = request.headers.get(CLIENT_HEADER, "")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        secret = self._secrets.get(client)
        if secret is None or not TIMESTAMP_PATTERN.fullmatch(timestamp):
            raise BadRequest(401, "unauthorized")
        expected = signature_for(secret, timestamp, body).encode()
        if not hmac.compare_digest(expected, signature.encode()):
            raise BadRequest(401, "unauthorized")
        # Checked once the signature holds, so strangers cannot fill the memory below.
        if abs(self._clock() - int(timestamp)) > self._window:
            raise BadRequest(401, "stale_timestamp")
        # A timestamp stays acceptable for twice the window (from `window` early to
        # `window` late), so its signature is remembered that long. The first request
        # to store its own random claim under the signature is the one accepted.
        key = "signature:" + hashlib.sha256(f"{client}:{signature}".encode()).hexdigest()[:32]
        claim = secrets.token_hex(16)
        if await self._seen.setdefault(key, claim, 2 * self._window) != claim:
            raise BadRequest(401, "replayed")
        return Caller(f"rest:{client}")

    async def close(self) -> None:
        await self._seen.close()


def access_from(credentials: Mapping[str, Any], environ: Mapping[str, str]) -> Access:
    """The authentication the credentials select; anything unclear refuses to start."""
    mode = credentials.get("authentication")
    if mode == AUTHENTICATION_NONE:
        return OpenAccess()
    if mode == AUTHENTICATION_SIGNED:
        client_secrets = parse_client_secrets(environ.get(CLIENT_SECRETS_VARIABLE))
        url = redis_url(environ)
        seen: ChannelState = (
            RedisState(url, prefix="channels:rest:")
            if url
            else MemoryState(MAX_REMEMBERED_SIGNATURES)
        )
        return SignedAccess(client_secrets, seen)
    raise ValueError(
        "connectors.rest.RestInput needs `authentication: signed` (production) or "
        "`authentication: none` (local runs and tests only) in its credentials"
    )


async def read_body(request: Request) -> bytes:
    """The raw body, refused (413) beyond `MAX_BODY_BYTES` without reading further."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest(413, "body_too_large")
    # The route streams, so Sanic lifted its own limit: this one applies while reading.
    request.stream.request_max_size = MAX_BODY_BYTES
    try:
        return b"".join([chunk async for chunk in request.stream])
    except PayloadTooLarge:
        raise BadRequest(413, "body_too_large") from None


def _without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, unless a key repeats: parsers disagree on which value wins, so a
    signer in front and this channel could read different senders."""
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("repeated key")
    return data


def sender_and_text(body: bytes) -> tuple[str, str]:
    """The `sender` and `message` of a body, or a 400 naming what is wrong."""
    try:
        data = json.loads(body, object_pairs_hook=_without_repeated_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(400, "invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "body_must_be_an_object")
    sender, text = data.get("sender"), data.get("message")
    if not isinstance(sender, str) or not SENDER_PATTERN.fullmatch(sender):
        raise BadRequest(400, "invalid_sender")
    if not isinstance(text, str):
        raise BadRequest(400, "invalid_message")
    return sender, text


class RestInput(InputChannel):
    """The REST channel under Rasa's name and route (`rest`, `/webhooks/rest/webhook`)."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(access_from(credentials or {}, os.environ))

    def __init__(self, access: Access) -> None:
        self.access = access
        self.options = option_memory(self.name())
        self._notices: NoticeSource | None = None

    def attach_notices(self, source: NoticeSource) -> None:
        """Staff notices: a request/response channel can only give them in the reply to
        the resident's next message, before the assistant's answer."""
        self._notices = source

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        handle = guarded(on_new_message, self.options)
        bp = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = await read_body(request)
                caller = await self.access.caller(request, body)
                sender, text = sender_and_text(body)
            except BadRequest as refused:
                return response.json({"error": refused.error}, status=refused.status)
            return response.json(await self._take_turn(handle, caller, sender, text))

        async def close(*_: Any) -> None:
            await self.access.close()

        bp.listener("after_server_stop")(close)
        return closed_on_stop(bp, self.options)

    async def _take_turn(
        self,
        handle: Callable[[UserMessage], Awaitable[Any]],
        caller: Caller,
        sender: str,
        text: str,
    ) -> list[dict[str, Any]]:
        conversation = f"{caller.namespace}:{sender}"
        notices = await self._notices.take(conversation) if self._notices is not None else []
        collector = CollectingOutputChannel()
        # No metadata: nothing a caller adds reaches the conversation.
        message = UserMessage(text, collector, conversation, input_channel=self.name())
        try:
            await handle(message)
        except Exception:
            # The traceback only: the message may hold personal data.
            logger.exception("rest: a turn failed")
        # Before the answer, which is the last reply: its buttons are the ones a digit
        # picks from, not a notice's (connectors/notices.py).
        replies = [{**notice.message(), "recipient_id": sender} for notice in notices]
        replies += [{**reply, "recipient_id": sender} for reply in collector.messages]
        if notices and self._notices is not None:
            await self._notices.given(notices)
        return replies
