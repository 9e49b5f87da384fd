"""The 5-second rule: answering WeChat in time without ever cancelling Rasa's work.

Each pushed message becomes a job, keyed by MsgId, that runs Rasa to completion. The
request waits for it until the deadline; a job finished in time becomes the passive
reply, a late one is delivered afterwards (customer-service API, else kept for the
resident's next message). The platform's retries of a MsgId find the same job, so a
message is processed once however often it arrives; with several processes the
channel state (state.py) tells which one runs it, and exactly one request or push
claims each answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel

from connectors.cache import TTLCache
from connectors.state import ChannelState
from connectors.wechat.delivery import DeliveryError, WeChatClient
from connectors.wechat.render import fit, render
from connectors.wechat.settings import Limits, Timing

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"
PICKUP_WORDS = {"查看", "查看答复"}
WAIT_REPLY = "您的问题我还在查，请稍等半分钟，再回复「查看」就能看到答复。"
SORRY_REPLY = "不好意思，系统开了个小差。请过一会儿再发一次，或者拨打12345政务服务便民热线。"

Work = Callable[[OutputChannel], Awaitable[None]]
# How often a retry asks whether another process has finished the answer.
_POLL_INTERVAL = 0.1


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
    """What each resident still has to receive."""

    def __init__(
        self,
        state: ChannelState,
        customer_service: WeChatClient | None,
        timing: Timing,
        limits: Limits,
    ) -> None:
        self.state = state
        self.customer_service = customer_service
        self._ttl = timing.memory_ttl
        self._max_reply_bytes = limits.max_reply_bytes

    async def has_pending(self, openid: str) -> bool:
        return await self.state.length(f"pending:{openid}") > 0

    async def passive(self, openid: str, text: str | None) -> str | None:
        """The passive reply now: whatever was waiting for the resident, then `text`."""
        parts = [*await self.state.take(f"pending:{openid}"), text or ""]
        combined = "\n\n".join(part for part in parts if part)
        if not combined:
            return None
        head, rest = fit(combined, self._max_reply_bytes)
        if rest:
            await self._keep(openid, rest)
        return head

    async def push(self, openid: str, text: str) -> None:
        """Delivers outside a request: customer-service API, else at the next message."""
        if not text:
            return
        head, rest = fit(text, self._max_reply_bytes)
        if self.customer_service is not None:
            try:
                await self.customer_service.send_text(openid, head)
            except DeliveryError as error:
                logger.warning("WeChat push to %s kept for later: %s", mask(openid), error)
            else:
                if rest:
                    await self._keep(openid, rest)
                return
        await self._keep(openid, text)

    async def forget(self, openid: str) -> None:
        await self.state.delete(f"pending:{openid}")

    async def _keep(self, openid: str, text: str) -> None:
        await self.state.append(f"pending:{openid}", text, self._ttl)


@dataclass
class _Job:
    openid: str
    output: CollectingOutput
    task: asyncio.Task
    # A response without the answer has gone back to WeChat; deliver it when done.
    overdue: bool = False
    # Requests (the platform's retries) waiting for this job in this process right now.
    waiting: int = 0


class Dispatcher:
    def __init__(self, outbox: Outbox, timing: Timing, limits: Limits) -> None:
        self._outbox = outbox
        self._state = outbox.state
        self._timing = timing
        # Jobs this process runs; the state knows which process runs any job.
        self._jobs: TTLCache[_Job] = TTLCache(timing.dedup_ttl, limits.max_entries)
        self._process = secrets.token_hex(8)
        # asyncio keeps only weak references to tasks: these keep running work alive.
        self._running: set[asyncio.Task] = set()

    async def answer(self, key: str, openid: str, work: Work, deadline_at: float) -> str | None:
        """The passive reply text for message `key`, or None for "success".

        `work` runs once per key; the call returns by `deadline_at` (loop time) at the
        latest, leaving the work running.
        """
        job = self._jobs.get(key)
        if job is None:
            runner = await self._state.setdefault(
                f"msg:{key}", self._process, self._timing.dedup_ttl
            )
            if runner != self._process:
                return await self._answer_run_elsewhere(key, openid, deadline_at)
            output = CollectingOutput()
            job = _Job(openid, output, self._start(work(output)))
            job.task.add_done_callback(lambda _: self._finished(key, job))
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
                    self._finished(key, job)
                raise
            finally:
                job.waiting -= 1
        if job.task.done():
            if not await self._claim(key):
                return None
            return await self._outbox.passive(openid, self._rendered(job))
        job.overdue = True
        return await self._overdue_reply(openid)

    async def _answer_run_elsewhere(self, key: str, openid: str, deadline_at: float) -> str | None:
        """A retry of a message another process runs: its answer, if it comes in time."""
        loop = asyncio.get_running_loop()
        await self._state.put(f"waiting:{key}", "1", max(0.1, deadline_at - loop.time()) + 1)
        while loop.time() < deadline_at:
            if await self._state.get(f"delivered:{key}") is not None:
                return None  # the running process has replied or pushed it
            answer = await self._state.get(f"answer:{key}")
            if answer is not None:
                if not await self._claim(key):
                    return None
                return await self._outbox.passive(openid, answer)
            await asyncio.sleep(min(_POLL_INTERVAL, max(0.0, deadline_at - loop.time())))
        return await self._overdue_reply(openid)

    async def _overdue_reply(self, openid: str) -> str | None:
        if self._outbox.customer_service is not None:
            return await self._outbox.passive(openid, None)
        return await self._outbox.passive(openid, WAIT_REPLY)

    async def _claim(self, key: str) -> bool:
        """Whether this caller delivers the answer to `key` (exactly one does)."""
        claimant = secrets.token_hex(8)
        stored = await self._state.setdefault(f"delivered:{key}", claimant, self._timing.dedup_ttl)
        return stored == claimant

    def _start(self, coroutine: Awaitable[None]) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def _finished(self, key: str, job: _Job) -> None:
        # A request still inside its deadline in this process (the first try or a
        # retry) claims the answer itself as a passive reply.
        if job.overdue and job.waiting == 0:
            self._start(self._deliver_late(key, job))

    async def _deliver_late(self, key: str, job: _Job) -> None:
        answer = self._rendered(job)
        await self._state.put(f"answer:{key}", answer, self._timing.dedup_ttl)
        if await self._state.get(f"waiting:{key}"):
            # A retry waits in another process: it may still reply with the answer.
            await asyncio.sleep(self._timing.deadline)
        if await self._claim(key):
            await self._outbox.push(job.openid, answer)

    def _rendered(self, job: _Job) -> str:
        if job.task.cancelled():
            return SORRY_REPLY
        error = job.task.exception()
        if error is not None:
            # The type only: messages of Rasa's errors can quote the resident's text.
            logger.error("WeChat message of %s failed: %s", mask(job.openid), type(error).__name__)
            return SORRY_REPLY
        return render(job.output.messages)
