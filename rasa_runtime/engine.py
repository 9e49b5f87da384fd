"""Rasa's message handling on a thread of its own, so the server's event loop only does I/O.

Rasa runs NLU and policies synchronously inside its coroutines, holding the loop that
runs them for tens of milliseconds per step. On the Sanic loop that starved everything
else: with 50 simultaneous WeChat residents, requests were read seconds late and the
4.5 s deadline fired late. Each message is therefore handled on the engine's loop in
a separate thread, while the Sanic loop keeps reading requests, firing deadlines and
writing replies (Python hands the GIL over every few milliseconds). The bot's messages
are sent on the loop that owns the channel's connections.

On the engine's loop a few workers take the messages first come, first served: sharing
the CPU among all waiting messages at once would finish every one of them late, instead
of most of them in time.

A stopping server drains the engine (`drain`, called by the launcher on SIGTERM): turns
in flight finish and their replies are delivered; what cannot finish in time is
cancelled before Rasa saves it, and what has not started is refused (`EngineStopped`):
either way the message is not taken in, so it can be sent again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore
from rasa.utils.endpoints import EndpointConfig

from rasa_runtime.action_calls import ActionServerUnavailable, abandonable_turn
from rasa_runtime.settings import DRAIN_SECONDS, MESSAGES_IN_FLIGHT

logger = logging.getLogger(__name__)

MessageHandler = Callable[[UserMessage], Awaitable[Any]]

_Job = tuple[MessageHandler, UserMessage, Future]


class EngineStopped(Exception):
    """The server is stopping: the message was not taken in."""


class _Engine:
    """An event loop in a daemon thread, started on first use, and its workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: tuple[asyncio.AbstractEventLoop, asyncio.Queue[_Job]] | None = None
        # asyncio keeps only weak references to tasks: this keeps the workers alive.
        self._workers: list[asyncio.Task] = []
        self._stopping = False

    def submit(self, handler: MessageHandler, message: UserMessage) -> Future:
        """Queues the message from any thread; the future resolves when Rasa is done."""
        done: Future = Future()
        with self._lock:
            if self._stopping:
                done.set_exception(EngineStopped())
                return done
            loop, queue = self._started()
            # Under the lock: a drain starting later finds this message in the queue.
            loop.call_soon_threadsafe(queue.put_nowait, (handler, message, done))
        return done

    def drain(self, timeout: float) -> None:
        """Takes no more messages, lets those taken finish for up to `timeout` seconds,
        then hands back the rest unsaved and stops the loop. Blocks; any thread."""
        with self._lock:
            self._stopping = True
            running = self._running
        if running is None:
            return
        loop, queue = running
        asyncio.run_coroutine_threadsafe(self._drain(queue, timeout), loop).result()
        loop.call_soon_threadsafe(loop.stop)

    def _started(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[_Job]]:
        if self._running is None:
            loop = asyncio.new_event_loop()
            queue: asyncio.Queue[_Job] = asyncio.Queue()
            self._workers = [loop.create_task(_work(queue)) for _ in range(MESSAGES_IN_FLIGHT)]
            threading.Thread(target=loop.run_forever, name="rasa-engine", daemon=True).start()
            self._running = (loop, queue)
        return self._running

    async def _drain(self, queue: asyncio.Queue[_Job], timeout: float) -> None:
        try:
            await asyncio.wait_for(queue.join(), timeout)
            logger.info("Engine drained: every turn taken in was finished")
            return
        except asyncio.TimeoutError:
            pass
        waiting = 0
        while not queue.empty():
            _, _, done = queue.get_nowait()
            done.set_exception(EngineStopped())
            queue.task_done()
            waiting += 1
        # Cancelled before Rasa saved them: these messages are not taken in either.
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        logger.warning(
            "Engine stopped after %.0f s: %d waiting turns handed back", timeout, waiting
        )


async def _work(queue: asyncio.Queue[_Job]) -> None:
    # The action calls may end these turns unsaved (rasa_runtime/action_calls.py).
    abandonable_turn.set(True)
    while True:
        handler, message, done = await queue.get()
        try:
            await _take_turn(handler, message, done)
        finally:
            queue.task_done()


async def _take_turn(handler: MessageHandler, message: UserMessage, done: Future) -> None:
    try:
        await handler(message)
    except ActionServerUnavailable:
        done.set_result(None)  # the resident has been told; nothing was saved
    except BaseException as error:  # handed to the waiting channel, which reports it
        done.set_exception(error)
        if isinstance(error, asyncio.CancelledError):
            raise  # the engine is stopping
    else:
        done.set_result(None)


_engine = _Engine()


class _ChannelLoopOutput(OutputChannel):
    """Forwards the bot's messages to the channel's own loop, where its sockets live."""

    def __init__(self, channel_output: OutputChannel, channel_loop: asyncio.AbstractEventLoop):
        self._channel_output = channel_output
        self._channel_loop = channel_loop

    def name(self) -> str:  # type: ignore[override]
        # Rasa picks channel-specific responses by this name.
        return self._channel_output.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self._on_channel_loop(self._channel_output.send_response(recipient_id, message))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._on_channel_loop(
            self._channel_output.send_text_message(recipient_id, text, **kwargs)
        )

    async def _on_channel_loop(self, coroutine: Coroutine[Any, Any, None]) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._channel_loop))


async def handle_in_engine(handler: MessageHandler, message: UserMessage) -> None:
    """Handles `message` on the engine's loop; returns when Rasa is done with it."""
    message.output_channel = _ChannelLoopOutput(message.output_channel, asyncio.get_running_loop())
    done = _engine.submit(handler, message)
    # Shielded: a client hanging up must not stop a turn half-way through.
    await asyncio.shield(asyncio.wrap_future(done))


async def drain(timeout: float = DRAIN_SECONDS) -> None:
    """Lets the turns in flight finish (their replies reach the channels, whose loop is
    this one) and stops the engine; for the server's shutdown."""
    await asyncio.to_thread(_engine.drain, timeout)


class ThreadSafeInMemoryLockStore(InMemoryLockStore):
    """Rasa's in-memory conversation locks, safe to share between the engine's thread
    and the server's loop (the HTTP API, deleting a resident's data).

    Rasa's version issues and cleans up tickets in several unguarded steps, which two
    threads could interleave into two holders of one lock. It is still a one-process
    store: several workers or replicas need the Redis lock store.
    """

    def __init__(self, endpoint_config: EndpointConfig | None = None) -> None:
        super().__init__()
        self._mutex = threading.RLock()

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._mutex:
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: str) -> None:
        with self._mutex:
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        with self._mutex:
            super().cleanup(conversation_id, ticket_number)
