"""What each resident still has to receive, and pushes outside a request.

Answers that could not go out as a passive reply wait here, per conversation, until
the customer-service API takes them or the resident's next message carries them.
Staff notices are sent through the same API but never kept here when it refuses: they
wait in the store's outbox, which gives them with the resident's next message.
"""

from __future__ import annotations

import logging

from connectors.notices import CHANNEL_UNAVAILABLE, REJECTED, WINDOW_CLOSED
from connectors.state import ChannelState
from connectors.wechat.api_client import DeliveryError, WeChatClient
from connectors.wechat.identity import for_log, openid_of
from connectors.wechat.render import fit
from connectors.wechat.settings import Limits, Timing

logger = logging.getLogger(__name__)

# The resident has to write again before the platform takes another message: 45015 (48
# hours since their last message), 45047 (too many messages since it).
_OUT_OF_WINDOW = {45015, 45047}
# Refusals no retry changes: the OpenID is no follower's (40003, 43004), the account
# may not send customer-service messages (48001).
_REFUSED = {40003, 43004, 48001}


class Outbox:
    def __init__(
        self,
        state: ChannelState,
        customer_service: WeChatClient | None,
        timing: Timing,
        limits: Limits,
        more_hint: str,
    ) -> None:
        self._state = state
        self.customer_service = customer_service
        self._ttl = timing.memory_ttl
        self._max_reply_bytes = limits.max_reply_bytes
        self._more_hint = more_hint

    async def has_pending(self, conversation: str) -> bool:
        return await self._state.length(_pending(conversation)) > 0

    async def passive(self, conversation: str, text: str | None) -> str | None:
        """The passive reply now: whatever was waiting for the resident, then `text`."""
        parts = [*await self._state.take(_pending(conversation)), text or ""]
        combined = "\n\n".join(part for part in parts if part)
        if not combined:
            return None
        head, rest = fit(combined, self._max_reply_bytes, self._more_hint)
        if rest:
            await self._keep(conversation, rest)
        return head

    async def push(self, conversation: str, text: str) -> None:
        """Delivers outside a request: customer-service API, else at the next message."""
        if not text:
            return
        openid = openid_of(conversation)
        if openid is None:
            # Rasa's HTTP API can name any conversation with output_channel=wechat;
            # only WeChat's own have an OpenID to send to.
            logger.warning(
                "WeChat push to %s dropped: not a WeChat conversation", for_log(conversation)
            )
            return
        head, rest = fit(text, self._max_reply_bytes, self._more_hint)
        if self.customer_service is not None:
            try:
                await self.customer_service.send_text(openid, head)
            except DeliveryError as error:
                logger.warning("WeChat push to %s kept for later: %s", for_log(conversation), error)
            else:
                if rest:
                    await self._keep(conversation, rest)
                return
        await self._keep(conversation, text)

    async def send_now(self, conversation: str, text: str) -> str | None:
        """Sends through the customer-service API now, keeping nothing when it fails:
        None once sent, else why not (connectors/notices.py)."""
        openid = openid_of(conversation)
        if openid is None:
            return REJECTED
        if self.customer_service is None:
            return WINDOW_CLOSED  # only the resident's next message can carry it
        head, rest = fit(text, self._max_reply_bytes, self._more_hint)
        try:
            await self.customer_service.send_text(openid, head)
        except DeliveryError as error:
            logger.warning("WeChat notice to %s not sent: %s", for_log(conversation), error)
            if error.errcode in _OUT_OF_WINDOW:
                return WINDOW_CLOSED
            return REJECTED if error.errcode in _REFUSED else CHANNEL_UNAVAILABLE
        if rest:
            await self._keep(conversation, rest)
        return None

    async def keep(self, conversation: str, text: str) -> None:
        """For the resident's next passive reply, before its answer."""
        await self._keep(conversation, text)

    async def forget(self, conversation: str) -> None:
        await self._state.delete(_pending(conversation))

    async def _keep(self, conversation: str, text: str) -> None:
        await self._state.append(_pending(conversation), text, self._ttl)


def _pending(conversation: str) -> str:
    return f"pending:{conversation}"
