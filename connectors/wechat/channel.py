"""The Rasa input and output channel `wechat` for the Official Account message push.

Serves `/webhooks/wechat/webhook`: GET is the platform's URL check, POST the messages.
Every request is authenticated (signature, and `msg_signature` in safe mode) and
must be fresh before anything is parsed further or reaches Rasa.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.guard import guarded
from connectors.options import OfferingOutput, OptionMemory
from connectors.state import ChannelState
from connectors.wechat.conversations import (
    CHANNEL_NAME,
    PICKUP_WORDS,
    Dispatcher,
    Outbox,
    Work,
    mask,
)
from connectors.wechat.crypto import DecryptionFailed, EnvelopeCrypto
from connectors.wechat.delivery import WeChatClient
from connectors.wechat.inbound import Inbound
from connectors.wechat.privacy import forget_resident
from connectors.wechat.render import render
from connectors.wechat.settings import Limits, Timing, WeChatSettings
from connectors.wechat.signature import is_fresh, verify
from connectors.wechat.state import state_for
from connectors.wechat.xmlio import MalformedXml, parse_flat_xml, render_text_reply

logger = logging.getLogger(__name__)

VOICE_UNCLEAR_REPLY = "不好意思，这段语音我没听清。请再说一遍，或者直接打字告诉我。"
NOT_TEXT_REPLIES = {
    "image": "我现在还看不懂图片。请用文字或语音把您的问题告诉我，比如「老年证咋个办」。",
    "location": "收到您的位置啦。请用文字或语音告诉我您想办什么事，比如「便民服务中心在哪儿」。",
}
OTHER_TYPE_REPLY = "这种消息我还看不懂。请用文字或语音告诉我您的问题，比如「低保要带啥子材料」。"
# Stored as the resident's turn when they follow; the greet intent brings the menu.
SUBSCRIBE_TEXT = "关注公众号"


class WeChatOutput(OutputChannel):
    """Messages Rasa sends on its own (HTTP API `trigger_intent`/`execute`, later staff
    replies and status changes): customer-service API, else at the next message."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self._outbox.push(recipient_id, render([message]))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._outbox.push(recipient_id, render([{"text": text}]))


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class WeChatInput(InputChannel):
    """Official Account message push; off (404) when no token is configured."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        return cls(WeChatSettings.from_sources(credentials))

    def __init__(
        self,
        settings: WeChatSettings,
        timing: Timing | None = None,
        limits: Limits | None = None,
        state: ChannelState | None = None,
    ) -> None:
        self.settings = settings
        self.timing = timing or Timing()
        self.limits = limits or Limits()
        self._crypto: EnvelopeCrypto | None = None
        self._state = state or state_for(settings, self.limits)
        customer_service = None
        if not settings.enabled:
            logger.info("WeChat channel off: WECHAT_TOKEN is not set.")
        else:
            assert settings.token is not None
            if settings.safe_mode:
                if not settings.app_id:
                    raise ValueError("WECHAT_ENCODING_AES_KEY needs WECHAT_APP_ID too")
                self._crypto = EnvelopeCrypto(
                    settings.token, str(settings.encoding_aes_key), settings.app_id
                )
            if settings.customer_service:
                customer_service = WeChatClient(
                    settings.api_base,
                    str(settings.app_id),
                    str(settings.app_secret),
                    self._state,
                    self.timing,
                )
        self._outbox = Outbox(self._state, customer_service, self.timing, self.limits)
        self._options = OptionMemory(self._state, ttl=self.timing.memory_ttl)
        self._dispatcher = Dispatcher(self._outbox, self.timing, self.limits)

    def get_output_channel(self) -> OutputChannel | None:
        if not self.settings.enabled:
            return None
        return OfferingOutput(WeChatOutput(self._outbox), self._options)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        handle = guarded(on_new_message, self._options)
        webhook = Blueprint("wechat_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "enabled": self.settings.enabled})

        @webhook.route("/webhook", methods=["GET"])
        async def verify_url(request: Request) -> HTTPResponse:
            if not self.settings.enabled:
                return response.text("WeChat channel is off", status=404)
            try:
                self._check_query_signature(request)
            except _Refused as refusal:
                return self._refuse(refusal)
            echostr = request.args.get("echostr") or ""
            if not echostr or len(echostr) > self.limits.max_echostr_chars:
                return response.text("bad echostr", status=400)
            return response.text(echostr)

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            deadline_at = asyncio.get_running_loop().time() + self.timing.deadline
            if not self.settings.enabled:
                return response.text("WeChat channel is off", status=404)
            try:
                inbound = await self._authenticated_message(request)
            except _Refused as refusal:
                return self._refuse(refusal)
            reply = await self._reply(request, inbound, handle, deadline_at)
            return self._respond(inbound, reply)

        @webhook.listener("after_server_stop")
        async def close_clients(*_: Any) -> None:
            if self._outbox.customer_service is not None:
                await self._outbox.customer_service.close()
            await self._state.close()

        return webhook

    # --- authentication -------------------------------------------------------------

    def _check_query_signature(self, request: Request) -> None:
        """Freshness, then the query `signature`; raises _Refused."""
        timestamp = request.args.get("timestamp") or ""
        if not is_fresh(timestamp, time.time(), self.timing.freshness):
            raise _Refused(403, "stale or missing timestamp")
        nonce = request.args.get("nonce") or ""
        token = str(self.settings.token)
        if not verify(request.args.get("signature"), token, timestamp, nonce):
            raise _Refused(403, "signature mismatch")

    async def _authenticated_message(self, request: Request) -> Inbound:
        args = request.args
        timestamp = args.get("timestamp") or ""
        nonce = args.get("nonce") or ""
        if not is_fresh(timestamp, time.time(), self.timing.freshness):
            raise _Refused(403, "stale or missing timestamp")
        body = await self._read_body(request)
        encrypted = args.get("encrypt_type") == "aes"
        if self._crypto is not None:
            # Refusing unencrypted posts in safe mode stops a downgrade to plaintext,
            # where the signature would not cover the body.
            if not encrypted:
                raise _Refused(403, "plaintext post while safe mode is configured")
            try:
                xml: bytes | str = self._crypto.open(
                    body, args.get("msg_signature"), timestamp, nonce
                )
            except PermissionError:
                raise _Refused(403, "msg_signature mismatch") from None
            except DecryptionFailed:
                raise _Refused(403, "message not encrypted with this account's key") from None
            except MalformedXml:
                raise _Refused(400, "malformed envelope") from None
        else:
            if encrypted:
                raise _Refused(403, "encrypted post but WECHAT_ENCODING_AES_KEY is not set")
            if not verify(args.get("signature"), str(self.settings.token), timestamp, nonce):
                raise _Refused(403, "signature mismatch")
            # The signature does not cover the body, so each signed query is bound to
            # the first body seen with it: a forged body under a captured query is refused.
            digest = hashlib.sha256(body).hexdigest()
            ttl = self.timing.freshness * 2
            if await self._state.setdefault(f"body:{timestamp}:{nonce}", digest, ttl) != digest:
                raise _Refused(403, "another body under an already used signature")
            xml = body
        try:
            return Inbound.from_fields(parse_flat_xml(xml))
        except MalformedXml:
            raise _Refused(400, "malformed message") from None

    async def _read_body(self, request: Request) -> bytes:
        # The route streams, so an oversized body is refused before it is all read.
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Refused(413, "body too large")
        chunks, size = [], 0
        while (chunk := await request.stream.read()) is not None:
            size += len(chunk)
            if size > limit:
                raise _Refused(413, "body too large")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _refuse(refusal: _Refused) -> HTTPResponse:
        logger.warning("WeChat request refused (%d): %s", refusal.status, refusal)
        return response.text("refused", status=refusal.status)

    # --- messages -------------------------------------------------------------------

    async def _reply(
        self,
        request: Request,
        inbound: Inbound,
        handle: Callable[[UserMessage], Awaitable[None]],
        deadline_at: float,
    ) -> str | None:
        """The passive reply text, or None for "success"."""
        openid = inbound.openid
        if inbound.msg_type == "text":
            return await self._converse(inbound, inbound.content, handle, deadline_at)
        if inbound.msg_type == "voice":
            if inbound.recognition:
                return await self._converse(inbound, inbound.recognition, handle, deadline_at)
            return await self._outbox.passive(openid, VOICE_UNCLEAR_REPLY)
        if inbound.msg_type != "event":
            return await self._outbox.passive(
                openid, NOT_TEXT_REPLIES.get(inbound.msg_type, OTHER_TYPE_REPLY)
            )
        if inbound.event in ("subscribe", "scan"):
            # Following, or scanning the account's QR code at a service centre.
            return await self._dispatcher.answer(
                inbound.dedup_key, openid, self._welcome(handle, openid), deadline_at
            )
        if inbound.event == "click":
            # Menu keys are questions as residents ask them (menu.py).
            return await self._converse(inbound, inbound.event_key, handle, deadline_at)
        if inbound.event == "unsubscribe":
            return await self._dispatcher.answer(
                inbound.dedup_key, openid, self._forget(request, openid), deadline_at
            )
        # Menu links (VIEW) and location reports need no answer.
        return None

    async def _converse(
        self,
        inbound: Inbound,
        text: str | None,
        handle: Callable[[UserMessage], Awaitable[None]],
        deadline_at: float,
    ) -> str | None:
        openid = inbound.openid
        if text and text.strip() in PICKUP_WORDS and await self._outbox.has_pending(openid):
            return await self._outbox.passive(openid, None)

        async def work(output: OutputChannel) -> None:
            await handle(
                UserMessage(
                    text,
                    output,
                    openid,
                    input_channel=CHANNEL_NAME,
                    message_id=inbound.msg_id,
                )
            )

        return await self._dispatcher.answer(inbound.dedup_key, openid, work, deadline_at)

    @staticmethod
    def _welcome(handle: Callable[[UserMessage], Awaitable[None]], openid: str) -> Work:
        async def work(output: OutputChannel) -> None:
            # A following is not something the resident typed: the intent is given, so
            # the welcome menu does not depend on how NLU reads the placeholder text.
            parse_data = {
                "text": SUBSCRIBE_TEXT,
                "intent": {"name": "greet", "confidence": 1.0},
                "entities": [],
            }
            await handle(
                UserMessage(
                    SUBSCRIBE_TEXT,
                    output,
                    openid,
                    parse_data=parse_data,
                    input_channel=CHANNEL_NAME,
                )
            )

        return work

    def _forget(self, request: Request, openid: str) -> Work:
        async def work(_: OutputChannel) -> None:
            await self._outbox.forget(openid)
            await self._options.forget(openid)
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None:
                logger.error("WeChat unsubscribe of %s: no agent, data NOT deleted", mask(openid))
                return
            try:
                deleted = await forget_resident(agent, openid)
            except NotImplementedError as error:
                logger.error("WeChat unsubscribe of %s: data NOT deleted (%s)", mask(openid), error)
                return
            logger.info(
                "WeChat resident %s unsubscribed: conversation data deleted (%d records).",
                mask(openid),
                deleted,
            )

        return work

    def _respond(self, inbound: Inbound, reply: str | None) -> HTTPResponse:
        if not reply:
            # "success" (or an empty body) tells the platform there is no reply.
            return response.text("success")
        xml = render_text_reply(inbound.account, inbound.openid, reply)
        if self._crypto is not None:
            xml = self._crypto.seal(xml, nonce=secrets.token_hex(8))
        return response.text(xml, content_type="application/xml; charset=utf-8")
