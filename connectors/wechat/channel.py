"""The Rasa input and output channel `wechat` for the Official Account message push.

Serves `/webhooks/wechat/webhook`: GET is the platform's URL check, POST the messages.
Requests are authenticated (authentication.py) before anything else; each message
then becomes a turn of the conversation `wechat:<OpenID>` (identity.py), whose answer
the delivery (delivery.py) gets to the resident in time or later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.guard import guarded
from connectors.notices import Notice, NoticeSource
from connectors.options import OfferingOutput, OptionMemory
from connectors.state import ChannelState
from connectors.wechat.authentication import Refused, RequestAuthenticator
from connectors.wechat.delivery import Delivery
from connectors.wechat.dispatch import Work
from connectors.wechat.identity import CHANNEL_NAME, for_log
from connectors.wechat.inbound import Inbound
from connectors.wechat.privacy import forget_resident
from connectors.wechat.replies import Replies, load_replies
from connectors.wechat.settings import Limits, Timing, WeChatSettings
from connectors.wechat.state import state_for
from connectors.wechat.xmlio import render_text_reply

logger = logging.getLogger(__name__)

# Stored as the resident's turn when they follow; the greet intent brings the menu.
SUBSCRIBE_TEXT = "关注公众号"

Handler = Callable[[UserMessage], Awaitable[None]]


class WeChatOutput(OutputChannel):
    """Messages Rasa sends on its own (HTTP API `trigger_intent`/`execute`, later staff
    replies and status changes): customer-service API, else at the next message."""

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self._delivery.push(recipient_id, [message])

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._delivery.push(recipient_id, [{"text": text}])


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
        clock: Callable[[], float] = time.time,
        replies: Replies | None = None,
    ) -> None:
        """`clock` is the wall clock for timestamps and for how long messages are
        remembered (tests move it instead of waiting); `replies` default to the
        domain's."""
        self.settings = settings
        self._replies = replies or load_replies()
        self.timing = timing or Timing()
        self.limits = limits or Limits()
        # Shared by authentication, delivery and the options; closed with the server.
        self._state = state or state_for(settings, self.limits)
        self._authenticator: RequestAuthenticator | None = None
        if settings.enabled:
            self._authenticator = RequestAuthenticator(
                settings, self.timing, self.limits, self._state, clock
            )
        else:
            logger.info("WeChat channel off: WECHAT_TOKEN is not set.")
        self._delivery = Delivery(
            settings, self._state, self.timing, self.limits, self._replies, clock
        )
        self._options = OptionMemory(self._state, ttl=self.timing.memory_ttl)
        self._notices: NoticeSource | None = None

    def attach_notices(self, source: NoticeSource) -> None:
        """Staff notices: pushed through the customer-service API, and whatever waits
        for a resident given in the passive reply to their next message."""
        self._notices = source

    def notice_reach(self) -> list[str] | None:
        # Without the customer-service API only residents' messages carry notices.
        return None if self.settings.enabled and self._delivery.can_push else []

    async def push_notice(self, notice: Notice) -> str | None:
        """Through the customer-service API. Once sent it is the last thing the resident
        sees, so its numbered options are what a digit picks from; one not sent leaves
        the options alone (it comes with the resident's next message, before the answer)."""
        reason = await self._delivery.push_notice(notice.conversation_id, notice.message())
        if reason is None:
            await self._options.remember(notice.conversation_id, [notice.message()])
        return reason

    def get_output_channel(self) -> OutputChannel | None:
        if not self.settings.enabled:
            return None
        return OfferingOutput(WeChatOutput(self._delivery), self._options)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        handle = guarded(on_new_message, self._options)
        webhook = Blueprint("wechat_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "enabled": self.settings.enabled})

        @webhook.route("/webhook", methods=["GET"])
        async def verify_url(request: Request) -> HTTPResponse:
            if self._authenticator is None:
                return response.text("WeChat channel is off", status=404)
            try:
                self._authenticator.check_url(request)
            except Refused as refusal:
                return _refuse(refusal)
            echostr = request.args.get("echostr") or ""
            if not echostr or len(echostr) > self.limits.max_echostr_chars:
                return response.text("bad echostr", status=400)
            return response.text(echostr)

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            deadline_at = asyncio.get_running_loop().time() + self.timing.deadline
            if self._authenticator is None:
                return response.text("WeChat channel is off", status=404)
            try:
                inbound = await self._authenticator.message(request)
            except Refused as refusal:
                return _refuse(refusal)
            notices = await self._notices_for(inbound)
            reply = await self._reply(request, inbound, handle, deadline_at)
            if notices and self._notices is not None:
                await self._notices.given(notices)
            return self._respond(inbound, reply)

        @webhook.listener("after_server_stop")
        async def close_clients(*_: Any) -> None:
            # Answers still being worked on go out before the clients close, within
            # the time a late answer may take anyway.
            drain = self._delivery.drain()
            try:
                await asyncio.wait_for(drain, self.timing.deadline + self.timing.api_timeout)
            except asyncio.TimeoutError:
                logger.warning("WeChat answers still in progress at shutdown were not sent.")
            await self._delivery.close()
            await self._state.close()

        return webhook

    async def _notices_for(self, inbound: Inbound) -> list[Notice]:
        """The notices waiting for a resident whose message gets a reply, kept for that
        reply (the outbox puts what waits before the answer). Their text only: the answer
        comes after them in the same reply, and a digit picks from the answer's options,
        so numbered options here would be picked by nobody (the rating invitation's text
        names its levels' words, which are a rating typed)."""
        answered = inbound.msg_type != "event" or inbound.event in ("subscribe", "scan", "click")
        if self._notices is None or not answered:
            return []
        notices = await self._notices.take(inbound.conversation)
        for notice in notices:
            await self._delivery.keep_for_reply(inbound.conversation, notice.text)
        return notices

    async def _reply(
        self, request: Request, inbound: Inbound, handle: Handler, deadline_at: float
    ) -> str | None:
        """The passive reply text, or None for "success"."""
        if inbound.msg_type == "text":
            return await self._converse(inbound, inbound.content, handle, deadline_at)
        if inbound.msg_type == "voice":
            if inbound.recognition:
                return await self._converse(inbound, inbound.recognition, handle, deadline_at)
            return await self._delivery.reply_now(inbound.conversation, self._replies.voice_unclear)
        if inbound.msg_type != "event":
            text = self._replies.for_type(inbound.msg_type)
            return await self._delivery.reply_now(inbound.conversation, text)
        work = self._event_work(request, inbound, handle)
        if work is None:
            # Menu links (VIEW) and location reports need no answer.
            return None
        return await self._delivery.answer(
            inbound.dedup_key, inbound.conversation, work, deadline_at
        )

    def _event_work(self, request: Request, inbound: Inbound, handle: Handler) -> Work | None:
        if inbound.event in ("subscribe", "scan"):
            # Following, or scanning the account's QR code at a service centre.
            return _welcome(handle, inbound.conversation)
        if inbound.event == "click":
            # Menu keys are questions as residents ask them (menu.py).
            return _turn(handle, inbound, inbound.event_key)
        if inbound.event == "unsubscribe":
            return self._forget(request, inbound.conversation)
        return None

    async def _converse(
        self, inbound: Inbound, text: str | None, handle: Handler, deadline_at: float
    ) -> str | None:
        waiting = await self._delivery.pickup(inbound.conversation, text)
        if waiting is not None:
            return waiting
        work = _turn(handle, inbound, text)
        return await self._delivery.answer(
            inbound.dedup_key, inbound.conversation, work, deadline_at
        )

    def _forget(self, request: Request, conversation: str) -> Work:
        async def work(_: OutputChannel) -> None:
            await self._delivery.forget(conversation)
            await self._options.forget(conversation)
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None:
                logger.error(
                    "WeChat unsubscribe of %s: no agent, data NOT deleted", for_log(conversation)
                )
                return
            try:
                deleted = await forget_resident(agent, conversation)
            except NotImplementedError as error:
                logger.error(
                    "WeChat unsubscribe of %s: data NOT deleted (%s)", for_log(conversation), error
                )
                return
            logger.info(
                "WeChat resident %s unsubscribed: conversation data deleted (%d records).",
                for_log(conversation),
                deleted,
            )

        return work

    def _respond(self, inbound: Inbound, reply: str | None) -> HTTPResponse:
        if not reply:
            # "success" (or an empty body) tells the platform there is no reply.
            return response.text("success")
        assert self._authenticator is not None
        xml = self._authenticator.seal(render_text_reply(inbound.account, inbound.openid, reply))
        return response.text(xml, content_type="application/xml; charset=utf-8")


def _refuse(refusal: Refused) -> HTTPResponse:
    logger.warning("WeChat request refused (%d): %s", refusal.status, refusal)
    return response.text("refused", status=refusal.status)


def _turn(handle: Handler, inbound: Inbound, text: str | None) -> Work:
    async def work(output: OutputChannel) -> None:
        await handle(
            UserMessage(
                text,
                output,
                inbound.conversation,
                input_channel=CHANNEL_NAME,
                message_id=inbound.msg_id,
            )
        )

    return work


def _welcome(handle: Handler, conversation: str) -> Work:
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
                conversation,
                parse_data=parse_data,
                input_channel=CHANNEL_NAME,
            )
        )

    return work
