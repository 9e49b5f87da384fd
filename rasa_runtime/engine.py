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
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore
from rasa.utils.endpoints import EndpointConfig

from connectors import speedups

MessageHandler = Callable[[UserMessage], Awaitable[Any]]

# Every channel hands its messages to the engine, so this runs in any Rasa server
# that serves them.
speedups.apply()

# Two keep Rasa busy while the other message waits on the action server.
MESSAGES_IN_FLIGHT = int(os.environ.get("RASA_MESSAGES_IN_FLIGHT", "2"))

_Job = tuple[MessageHandler, UserMessage, Future]


class _Engine:
    """An event loop in a daemon thread, started on first use, and its workers."""

    def __init__(self) -> None:
        self._start_lock = threading.Lock()
        self._running: tuple[asyncio.AbstractEventLoop, asyncio.Queue[_Job]] | None = None
        # asyncio keeps only weak references to tasks: this keeps the workers alive.
        self._workers: list[asyncio.Task] = []

    def submit(self, handler: MessageHandler, message: UserMessage) -> Future:
        """Queues the message from any thread; the future resolves when Rasa is done."""
        loop, queue = self._started()
        done: Future = Future()
        loop.call_soon_threadsafe(queue.put_nowait, (handler, message, done))
        return done

    def _started(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[_Job]]:
        with self._start_lock:
            if self._running is None:
                loop = asyncio.new_event_loop()
                queue: asyncio.Queue[_Job] = asyncio.Queue()
                self._workers = [
                    loop.create_task(self._work(queue)) for _ in range(max(1, MESSAGES_IN_FLIGHT))
                ]
                threading.Thread(target=loop.run_forever, name="rasa-engine", daemon=True).start()
                self._running = (loop, queue)
            return self._running

    @staticmethod
    async def _work(queue: asyncio.Queue[_Job]) -> None:
        while True:
            handler, message, done = await queue.get()
            try:
                await handler(message)
            except BaseException as error:  # handed to the waiting channel, which reports it
                done.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise  # the engine is shutting down
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
