"""The 5-second rule: answering WeChat in time without ever cancelling Rasa's work.

Each pushed message becomes a job, keyed by what identifies it across retries
(inbound.py), that runs Rasa to completion. The request waits for it until the
deadline; a job finished in time becomes the passive reply, a late one is delivered
afterwards through the outbox. The platform's retries find the same job, so a message
is processed once however often it arrives; with several processes the channel state
(state.py) tells which one runs it, and exactly one request or push claims each answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel

from connectors.cache import TTLCache
from connectors.state import ChannelState
from connectors.wechat.identity import CHANNEL_NAME, for_log
from connectors.wechat.outbox import Outbox
from connectors.wechat.render import render
from connectors.wechat.replies import Replies
from connectors.wechat.settings import Limits, Timing

logger = logging.getLogger(__name__)

Work = Callable[[OutputChannel], Awaitable[None]]
# How often a retry asks whether another process has finished the answer.
_POLL_INTERVAL = 0.1


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


@dataclass
class _Job:
    conversation: str
    output: CollectingOutput
    task: asyncio.Task
    # A response without the answer has gone back to WeChat; deliver it when done.
    overdue: bool = False
    # Requests (the platform's retries) waiting for this job in this process right now.
    waiting: int = 0


class Dispatcher:
    def __init__(
        self,
        state: ChannelState,
        outbox: Outbox,
        timing: Timing,
        limits: Limits,
        replies: Replies,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._outbox = outbox
        self._timing = timing
        self._replies = replies
        # Jobs this process runs; the state knows which process runs any job.
        self._jobs: TTLCache[_Job] = TTLCache(timing.dedup_ttl, limits.max_entries, clock)
        self._process = secrets.token_hex(8)
        # asyncio keeps only weak references to tasks: these keep running work alive.
        self._running: set[asyncio.Task] = set()

    async def answer(
        self, key: str, conversation: str, work: Work, deadline_at: float
    ) -> str | None:
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
                return await self._answer_run_elsewhere(key, conversation, deadline_at)
            output = CollectingOutput()
            job = _Job(conversation, output, self._start(work(output)))
            job.task.add_done_callback(lambda _: self._finished(key, job))
            self._jobs.set(key, job)
        await self._wait(key, job, deadline_at)
        if job.task.done():
            if not await self._claim(key):
                return None
            return await self._outbox.passive(conversation, self._rendered(job))
        job.overdue = True
        return await self._overdue_reply(conversation)

    async def drain(self) -> None:
        """Returns once every answer this process is working on has been given or sent
        (late deliveries start when their work ends, so this waits until none is left)."""
        while self._running:
            await asyncio.wait(set(self._running))

    async def _wait(self, key: str, job: _Job, deadline_at: float) -> None:
        remaining = deadline_at - asyncio.get_running_loop().time()
        if job.task.done() or remaining <= 0:
            return
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

    async def _answer_run_elsewhere(
        self, key: str, conversation: str, deadline_at: float
    ) -> str | None:
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
                return await self._outbox.passive(conversation, answer)
            await asyncio.sleep(min(_POLL_INTERVAL, max(0.0, deadline_at - loop.time())))
        return await self._overdue_reply(conversation)

    async def _overdue_reply(self, conversation: str) -> str | None:
        if self._outbox.customer_service is not None:
            return await self._outbox.passive(conversation, None)
        return await self._outbox.passive(conversation, self._replies.wait)

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
            await self._outbox.push(job.conversation, answer)

    def _rendered(self, job: _Job) -> str:
        if job.task.cancelled():
            return self._replies.sorry
        error = job.task.exception()
        if error is not None:
            # The type only: messages of Rasa's errors can quote the resident's text.
            logger.error(
                "WeChat message of %s failed: %s", for_log(job.conversation), type(error).__name__
            )
            return self._replies.sorry
        return render(job.output.messages, self._replies.options_hint)
