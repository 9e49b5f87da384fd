"""Turn counts for the dashboard's containment rate: every resident turn, per local
(China) day, channel and how it ended (`answered`, or why it was captured), as
`rasa_runtime.turns` decides.

Each turn adds one to its row in the capture outbox's file (`Outbox.count_turn`, a
local write), and every TURN_COUNTS_FLUSH_SECONDS and when the server stops the rows
are sealed into `POST /metrics/turns` items with a batch id each, which the outbox's
forwarder delivers like captured turns: while the store is down they wait, a batch
delivered twice is added once, and what was not sent is sent by the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rasa_runtime.outbox import Outbox
from rasa_runtime.turns import CHINA_STANDARD_TIME, TurnEnded

logger = logging.getLogger(__name__)

PATH = "/metrics/turns"


def local_day(timestamp: float) -> str:
    """The day in China of a Unix time (the store's dashboard counts China's days)."""
    return datetime.fromtimestamp(timestamp, CHINA_STANDARD_TIME).date().isoformat()


class TurnCounter:
    """Counts turns into the outbox and seals them into batches now and then."""

    def __init__(
        self,
        outbox: Outbox,
        flush_seconds: float,
        sealed: Callable[[], None],
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._outbox = outbox
        self._flush_seconds = flush_seconds
        self._sealed = sealed  # told when batches were added (the forwarder wakes)
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    def count(self, turn: TurnEnded) -> None:
        self._outbox.count_turn(local_day(turn.occurred_at), turn.channel, turn.outcome)

    def flush(self) -> int:
        """Seals what was counted into batches; returns how many."""
        batches = self._outbox.seal_counts(PATH)
        if batches:
            self._sealed()
        return batches

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stops the periodic flush and seals what was counted since the last one."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()

    async def _run(self) -> None:
        while True:
            await self._sleep(self._flush_seconds)
            try:
                self.flush()
            except Exception as error:  # the counts stay in the file for the next flush
                logger.error("Turn counts could not be sealed (%s)", type(error).__name__)
