"""Is this request from the WeChat platform, for this account, and fresh?

Every request is checked here before anything is parsed further or reaches Rasa:
the timestamp is within the freshness window, the query `signature` (plaintext mode)
or the `msg_signature` over the envelope (safe mode) is right, and the body was
encrypted with this account's key. Replies are sealed the same way in safe mode.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from sanic.request import Request

from connectors.state import ChannelState
from connectors.wechat.crypto import DecryptionFailed, EnvelopeCrypto
from connectors.wechat.inbound import Inbound
from connectors.wechat.settings import Limits, Timing, WeChatSettings
from connectors.wechat.signature import is_fresh, verify
from connectors.wechat.xmlio import MalformedXml, parse_flat_xml


class Refused(Exception):
    """The request is not answered; `status` says why to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class RequestAuthenticator:
    def __init__(
        self,
        settings: WeChatSettings,
        timing: Timing,
        limits: Limits,
        state: ChannelState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.token is None:
            raise ValueError("WECHAT_TOKEN is required")
        self._token = settings.token
        self._timing = timing
        self._limits = limits
        self._state = state
        # Wall-clock time: the platform's timestamps are Unix seconds.
        self._clock = clock
        self._crypto: EnvelopeCrypto | None = None
        if settings.safe_mode:
            if not settings.app_id:
                raise ValueError("WECHAT_ENCODING_AES_KEY needs WECHAT_APP_ID too")
            self._crypto = EnvelopeCrypto(
                settings.token, str(settings.encoding_aes_key), settings.app_id
            )

    def check_url(self, request: Request) -> None:
        """The platform's URL check (GET): freshness, then `signature`; raises Refused."""
        timestamp = self._fresh_timestamp(request)
        nonce = request.args.get("nonce") or ""
        if not verify(request.args.get("signature"), self._token, timestamp, nonce):
            raise Refused(403, "signature mismatch")

    async def message(self, request: Request) -> Inbound:
        """The pushed message of an authentic, fresh request; raises Refused."""
        timestamp = self._fresh_timestamp(request)
        body = await self._read_body(request)
        if self._crypto is not None:
            xml = self._open(request, body, timestamp)
        else:
            await self._check_plaintext(request, body, timestamp)
            xml = body
        try:
            return Inbound.from_fields(parse_flat_xml(xml))
        except MalformedXml:
            raise Refused(400, "malformed message") from None

    def seal(self, xml: str) -> str:
        """The reply as the platform expects it: encrypted and signed in safe mode."""
        if self._crypto is None:
            return xml
        return self._crypto.seal(xml, nonce=secrets.token_hex(8))

    def _fresh_timestamp(self, request: Request) -> str:
        timestamp = request.args.get("timestamp") or ""
        if not is_fresh(timestamp, self._clock(), self._timing.freshness):
            raise Refused(403, "stale or missing timestamp")
        return timestamp

    def _open(self, request: Request, body: bytes, timestamp: str) -> str:
        assert self._crypto is not None
        args = request.args
        # Refusing unencrypted posts in safe mode stops a downgrade to plaintext,
        # where the signature would not cover the body.
        if args.get("encrypt_type") != "aes":
            raise Refused(403, "plaintext post while safe mode is configured")
        nonce = args.get("nonce") or ""
        try:
            return self._crypto.open(body, args.get("msg_signature"), timestamp, nonce)
        except PermissionError:
            raise Refused(403, "msg_signature mismatch") from None
        except DecryptionFailed:
            raise Refused(403, "message not encrypted with this account's key") from None
        except MalformedXml:
            raise Refused(400, "malformed envelope") from None

    async def _check_plaintext(self, request: Request, body: bytes, timestamp: str) -> None:
        args = request.args
        if args.get("encrypt_type") == "aes":
            raise Refused(403, "encrypted post but WECHAT_ENCODING_AES_KEY is not set")
        nonce = args.get("nonce") or ""
        if not verify(args.get("signature"), self._token, timestamp, nonce):
            raise Refused(403, "signature mismatch")
        # The signature does not cover the body, so each signed query is bound to the
        # first body seen with it: a forged body under a captured query is refused.
        digest = hashlib.sha256(body).hexdigest()
        bound = await self._state.setdefault(
            f"body:{timestamp}:{nonce}", digest, self._timing.dedup_ttl
        )
        if bound != digest:
            raise Refused(403, "another body under an already used signature")

    async def _read_body(self, request: Request) -> bytes:
        # The route streams, so an oversized body is refused before it is all read.
        limit = self._limits.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise Refused(413, "body too large")
        chunks, size = [], 0
        while (chunk := await request.stream.read()) is not None:
            size += len(chunk)
            if size > limit:
                raise Refused(413, "body too large")
            chunks.append(chunk)
        return b"".join(chunks)
