"""Getting answers to residents: the one thing the channel calls for delivery.

A message's answer goes back in the passive reply when Rasa finishes within the
deadline (dispatch.py), or later through the customer-service API, or with the
resident's next message (outbox.py). The channel never drives those parts itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from connectors.state import ChannelState
from connectors.wechat.api_client import WeChatClient
from connectors.wechat.dispatch import Dispatcher, Work
from connectors.wechat.outbox import Outbox
from connectors.wechat.render import render
from connectors.wechat.replies import Replies
from connectors.wechat.settings import Limits, Timing, WeChatSettings

# What a resident sends to see an answer that missed the passive reply.
PICKUP_WORDS = {"查看", "查看答复"}


class Delivery:
    def __init__(
        self,
        settings: WeChatSettings,
        state: ChannelState,
        timing: Timing,
        limits: Limits,
        replies: Replies,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._options_hint = replies.options_hint
        customer_service = None
        if settings.customer_service:
            customer_service = WeChatClient(
                settings.api_base, str(settings.app_id), str(settings.app_secret), state, timing
            )
        self._outbox = Outbox(state, customer_service, timing, limits, replies.more_hint)
        self._dispatcher = Dispatcher(state, self._outbox, timing, limits, replies, clock)

    async def answer(
        self, key: str, conversation: str, work: Work, deadline_at: float
    ) -> str | None:
        """The passive reply to message `key` (None for "success"); `work` produces the
        answer once, however often the message arrives, and it is delivered later if
        it misses `deadline_at` (loop time)."""
        return await self._dispatcher.answer(key, conversation, work, deadline_at)

    async def pickup(self, conversation: str, text: str | None) -> str | None:
        """What was waiting for the resident, when they asked for it; else None."""
        if text and text.strip() in PICKUP_WORDS and await self._outbox.has_pending(conversation):
            return await self._outbox.passive(conversation, None)
        return None

    async def reply_now(self, conversation: str, text: str) -> str | None:
        """A passive reply that needs no Rasa, with whatever was waiting before it."""
        return await self._outbox.passive(conversation, text)

    async def push(self, conversation: str, messages: list[dict[str, Any]]) -> None:
        """Bot messages outside any request (Rasa's HTTP API, staff replies)."""
        await self._outbox.push(conversation, render(messages, self._options_hint))

    @property
    def can_push(self) -> bool:
        """Whether messages can reach residents outside a request (customer-service API)."""
        return self._outbox.customer_service is not None

    async def push_notice(self, conversation: str, message: dict[str, Any]) -> str | None:
        """A staff notice now, its buttons as numbered options: None once sent, else why
        not (connectors/notices.py)."""
        return await self._outbox.send_now(conversation, render([message], self._options_hint))

    async def keep_for_reply(self, conversation: str, text: str) -> None:
        """Given in the resident's passive reply, before the answer to their message."""
        await self._outbox.keep(conversation, text)

    async def drain(self) -> None:
        """Waits until every answer in progress in this process has gone out."""
        await self._dispatcher.drain()

    async def forget(self, conversation: str) -> None:
        await self._outbox.forget(conversation)

    async def close(self) -> None:
        if self._outbox.customer_service is not None:
            await self._outbox.customer_service.close()
