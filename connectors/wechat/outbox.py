"""What each resident still has to receive, and pushes outside a request.

Answers that could not go out as a passive reply wait here, per conversation, until
the customer-service API takes them or the resident's next message carries them.
"""

from __future__ import annotations

import logging

from connectors.state import ChannelState
from connectors.wechat.api_client import DeliveryError, WeChatClient
from connectors.wechat.identity import for_log, openid_of
from connectors.wechat.render import fit
from connectors.wechat.settings import Limits, Timing

logger = logging.getLogger(__name__)


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

    async def forget(self, conversation: str) -> None:
        await self._state.delete(_pending(conversation))

    async def _keep(self, conversation: str, text: str) -> None:
        await self._state.append(_pending(conversation), text, self._ttl)


def _pending(conversation: str) -> str:
    return f"pending:{conversation}"
