"""The 5-second rule: answering WeChat in time without ever cancelling Rasa's work.

Each pushed message becomes a job, keyed by MsgId, that runs Rasa to completion. The
request waits for it until the deadline; a job finished in time becomes the passive
reply, a late one is delivered afterwards (customer-service API, else kept for the
resident's next message). The platform's retries of a MsgId find the same job, so a
message is processed once however often it arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel

from connectors.wechat.cache import TTLCache
from connectors.wechat.delivery import CustomerServiceClient, DeliveryError
from connectors.wechat.render import Rendered, fit, render
from connectors.wechat.settings import Limits, Timing

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"
PICKUP_WORDS = {"查看", "查看答复"}
WAIT_REPLY = "您的问题我还在查，请稍等半分钟，再回复「查看」就能看到答复。"
SORRY_REPLY = "不好意思，系统开了个小差。请过一会儿再发一次，或者拨打12345政务服务便民热线。"

Work = Callable[[OutputChannel], Awaitable[None]]


def mask(openid: str) -> str:
    """Enough of an OpenID to follow one resident through the log, not to identify them."""
    return f"{openid[:3]}…{openid[-2:]}" if len(openid) > 6 else "…"


class CollectingOutput(OutputChannel):
    """Keeps the bot's messages for one user message until they are rendered together."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # Whole messages are kept: buttons must become numbered options, not text lines.
        self.messages.append(dict(message))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.messages.append({"text": text})


class Outbox:
    """What each resident still has to receive, and the options they were last offered.

    Both stores are per process (see cache.py).
    """

    def __init__(
        self, customer_service: CustomerServiceClient | None, timing: Timing, limits: Limits
    ) -> None:
        self.customer_service = customer_service
        self._max_reply_bytes = limits.max_reply_bytes
        self._options: TTLCache[list[str]] = TTLCache(timing.memory_ttl, limits.max_entries)
        self._pending: TTLCache[list[str]] = TTLCache(timing.memory_ttl, limits.max_entries)

    def options(self, openid: str) -> list[str]:
        return self._options.get(openid) or []

    def has_pending(self, openid: str) -> bool:
        return bool(self._pending.get(openid))

    def passive(
        self, openid: str, text: str | None, options: list[str] | None = None
    ) -> str | None:
        """The passive reply now: whatever was waiting for the resident, then `text`.

        `options` replaces the remembered numbered options; None leaves them as they are.
        """
        if options is not None:
            self._remember_options(openid, options)
        parts = [*(self._pending.pop(openid) or []), text or ""]
        combined = "\n\n".join(part for part in parts if part)
        if not combined:
            return None
        head, rest = fit(combined, self._max_reply_bytes)
        if rest:
            self._pending.set(openid, [rest])
        return head

    async def push(self, openid: str, rendered: Rendered) -> None:
        """Delivers outside a request: customer-service API, else at the next message."""
        if not rendered.text:
            return
        self._remember_options(openid, rendered.options)
        head, rest = fit(rendered.text, self._max_reply_bytes)
        if self.customer_service is not None:
            try:
                await self.customer_service.send_text(openid, head)
            except DeliveryError as error:
                logger.warning("WeChat push to %s kept for later: %s", mask(openid), error)
            else:
                if rest:
                    self._keep(openid, rest)
                return
        self._keep(openid, rendered.text)

    def forget(self, openid: str) -> None:
        self._options.pop(openid)
        self._pending.pop(openid)

    def _keep(self, openid: str, text: str) -> None:
        self._pending.set(openid, [*(self._pending.get(openid) or []), text])

    def _remember_options(self, openid: str, options: list[str]) -> None:
        if options:
            self._options.set(openid, options)
        else:
            # A digit must never pick from a menu the resident no longer sees.
            self._options.pop(openid)


@dataclass
class _Job:
    openid: str
    output: CollectingOutput
    task: asyncio.Task
    # The answer has been handed over (passive reply or push); nothing more to send.
    claimed: bool = False
    # A response without the answer has gone back to WeChat; deliver it when done.
    overdue: bool = False
    # Requests (the platform's retries) waiting for this job right now.
    waiting: int = 0


class Dispatcher:
    def __init__(self, outbox: Outbox, timing: Timing, limits: Limits) -> None:
        self._outbox = outbox
        self._jobs: TTLCache[_Job] = TTLCache(timing.dedup_ttl, limits.max_entries)
        # asyncio keeps only weak references to tasks: these keep running work alive.
        self._running: set[asyncio.Task] = set()

    async def answer(self, key: str, openid: str, work: Work, deadline_at: float) -> str | None:
        """The passive reply text for message `key`, or None for "success".

        `work` runs once per key; the call returns by `deadline_at` (loop time) at the
        latest, leaving the work running.
        """
        job = self._jobs.get(key)
        if job is None:
            output = CollectingOutput()
            job = _Job(openid, output, self._start(work(output)))
            job.task.add_done_callback(lambda _: self._finished(job))
            self._jobs.set(key, job)
        remaining = deadline_at - asyncio.get_running_loop().time()
        if not job.task.done() and remaining > 0:
            job.waiting += 1
            try:
                # asyncio.wait, unlike wait_for, leaves the task running at the timeout.
                await asyncio.wait({job.task}, timeout=remaining)
            except asyncio.CancelledError:
                # The connection went away (Sanic cancels the handler): deliver later.
                job.overdue = True
                if job.task.done():
                    self._finished(job)
                raise
            finally:
                job.waiting -= 1
        if job.claimed:
            return None
        if job.task.done():
            job.claimed = True
            rendered = self._rendered(job)
            return self._outbox.passive(openid, rendered.text, rendered.options)
        job.overdue = True
        if self._outbox.customer_service is not None:
            return self._outbox.passive(openid, None)
        return self._outbox.passive(openid, WAIT_REPLY)

    def _start(self, coroutine: Awaitable[None]) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def _finished(self, job: _Job) -> None:
        # A request still inside its deadline (the first try or a retry) claims the
        # answer itself as a passive reply.
        if job.overdue and not job.claimed and job.waiting == 0:
            job.claimed = True
            self._start(self._outbox.push(job.openid, self._rendered(job)))

    def _rendered(self, job: _Job) -> Rendered:
        if job.task.cancelled():
            return Rendered(SORRY_REPLY)
        error = job.task.exception()
        if error is not None:
            # The type only: messages of Rasa's errors can quote the resident's text.
            logger.error("WeChat message of %s failed: %s", mask(job.openid), type(error).__name__)
            return Rendered(SORRY_REPLY)
        return render(job.output.messages)
