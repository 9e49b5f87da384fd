"""The engine thread: Rasa's work off the server's loop, first come first served."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore

from rasa_runtime.engine import (
    MESSAGES_IN_FLIGHT,
    EngineStopped,
    ThreadSafeInMemoryLockStore,
    _Engine,
    handle_in_engine,
)


class ThreadRecordingOutput(OutputChannel):
    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    @classmethod
    def name(cls) -> str:
        return "recording"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.sent.append((message["text"], threading.get_ident()))


async def test_rasa_runs_on_the_engine_and_replies_on_the_channel_loop() -> None:
    output = ThreadRecordingOutput()
    seen: dict[str, Any] = {}

    async def rasa(message: UserMessage) -> None:
        seen["thread"] = threading.get_ident()
        seen["channel"] = message.output_channel.name()
        await message.output_channel.send_response(message.sender_id, {"text": "您好"})

    await handle_in_engine(rasa, UserMessage("你好", output, "resident"))
    assert seen["thread"] != threading.get_ident()
    # Channel-specific responses still find their channel by name.
    assert seen["channel"] == "recording"
    assert output.sent == [("您好", threading.get_ident())]


async def test_messages_start_in_arrival_order() -> None:
    started: list[int] = []
    release = asyncio.Event()
    channel_loop = asyncio.get_running_loop()

    async def rasa(message: UserMessage) -> None:
        started.append(int(message.text))
        # Hold every worker until all messages are queued behind them.
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(release.wait(), channel_loop))

    count = MESSAGES_IN_FLIGHT + 6
    handled = [
        asyncio.ensure_future(handle_in_engine(rasa, UserMessage(str(i), OutputChannel(), "r")))
        for i in range(count)
    ]
    for _ in range(100):
        if len(started) >= MESSAGES_IN_FLIGHT:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    # No more run at once than the engine admits.
    assert len(started) == MESSAGES_IN_FLIGHT
    release.set()
    await asyncio.gather(*handled)
    assert started == list(range(count))


async def test_a_caller_hanging_up_does_not_stop_rasa_half_way() -> None:
    finished = threading.Event()

    async def rasa(message: UserMessage) -> None:
        await asyncio.sleep(0.3)
        finished.set()

    caller = asyncio.ensure_future(handle_in_engine(rasa, UserMessage("问", OutputChannel(), "r")))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await asyncio.to_thread(finished.wait, 5)


async def test_rasa_errors_reach_the_channel() -> None:
    async def rasa(message: UserMessage) -> None:
        raise RuntimeError("tracker store unreachable")

    with pytest.raises(RuntimeError, match="tracker store unreachable"):
        await handle_in_engine(rasa, UserMessage("问", OutputChannel(), "r"))


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.parametrize(
    ("store_class", "unique"),
    [(ThreadSafeInMemoryLockStore, True), (InMemoryLockStore, False)],
)
def test_conversation_tickets_are_unique_across_threads(
    frequent_thread_switches: None, store_class: type[InMemoryLockStore], unique: bool
) -> None:
    # Rasa's own store is the control: under the same load it hands out duplicates,
    # which would let two threads hold one conversation's lock.
    store = store_class()
    tickets: list[int] = []

    def take_tickets() -> None:
        for _ in range(400):
            tickets.append(store.issue_ticket("resident"))

    threads = [threading.Thread(target=take_tickets) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(set(tickets)) == len(tickets)) is unique


async def test_a_draining_engine_finishes_the_turns_in_flight_and_refuses_new_ones() -> None:
    engine = _Engine()
    started, release = threading.Event(), threading.Event()
    output = ThreadRecordingOutput()

    async def rasa(message: UserMessage) -> None:
        started.set()
        await asyncio.to_thread(release.wait)
        await message.output_channel.send_response(message.sender_id, {"text": "答"})

    in_flight = engine.submit(rasa, UserMessage("问", output, "r"))
    await asyncio.to_thread(started.wait)
    draining = asyncio.ensure_future(asyncio.to_thread(engine.drain, 60))
    # A message arriving while the server stops is not taken in.
    while not engine._stopping:
        await asyncio.sleep(0)
    refused = engine.submit(rasa, UserMessage("再问", output, "r"))
    with pytest.raises(EngineStopped):
        refused.result(timeout=5)

    release.set()
    await draining
    assert in_flight.result(timeout=5) is None
    assert [text for text, _ in output.sent] == ["答"]


async def test_turns_that_cannot_finish_are_handed_back_unsaved() -> None:
    engine = _Engine()
    started, saved = threading.Event(), threading.Event()

    async def rasa(message: UserMessage) -> None:
        started.set()
        await asyncio.Event().wait()  # a dependency that never answers
        saved.set()

    stuck = [engine.submit(rasa, UserMessage(str(i), OutputChannel(), "r")) for i in range(4)]
    await asyncio.to_thread(started.wait)
    await asyncio.to_thread(engine.drain, 0.1)

    outcomes = [type(future.exception(timeout=5)) for future in stuck]
    # Those running are cancelled before Rasa saved them; those waiting never started.
    assert outcomes == [asyncio.CancelledError] * MESSAGES_IN_FLIGHT + [EngineStopped] * (
        4 - MESSAGES_IN_FLIGHT
    )
    assert not saved.is_set()
