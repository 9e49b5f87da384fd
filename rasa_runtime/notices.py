"""Delivers the status store's notices (staff replies, status changes, handoff messages,
rating invitations) to residents on their channel.

Started with the Rasa server (rasa_runtime/serve.py). It attaches itself to every
channel that takes notices (connectors/notices.py) and then, every
`NOTICE_POLL_SECONDS`:

- claims the due notices of each channel that can reach residents on its own — WeChat
  through the customer-service API, the widget for the sessions connected to this
  server (a replica claims only those, so it never holds a notice it cannot give) —
  leased to this server for `NOTICE_LEASE_SECONDS`;
- pushes each one and reports it delivered, or failed with the channel's reason: the
  store waits before trying again (backoff), or waits for the resident without counting
  an attempt (WeChat's 48-hour window has closed, the widget is not open here).

A resident who is there (their message, their widget connecting) gets what waits for
them first, through the channel's `take` (`NoticeWorker.take`). REST has no other way:
it is request and response.

Nothing is lost to an outage: a notice stays in the store until a channel has given it.
The WeChat API down means failed pushes and retries; the store down means no claims
(and no look-ups on residents' messages) until it is back. A server that stops or dies
mid-delivery leaves its leases to pass, and another replica (or this one, restarted)
gives those notices again: at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import yaml

from connectors.notices import CHANNEL_UNAVAILABLE, Notice
from connectors.options import Option, option
from rasa_runtime import settings

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "STORE_SERVICE_TOKEN"
DOMAIN_FILE = Path(__file__).resolve().parents[1] / "domain.yml"
# Each kind's words around the staff member's (`{text}`), resident-facing, in domain.yml;
# every kind of the store's contract has them (tests/connectors/test_notices.py).
WORDS_PREFIX = "utter_notice_"
_NOT_IN_WORKER_ID = re.compile(r"[^A-Za-z0-9_.:-]")
# The store's limit of conversations in one claim (NotificationClaim).
CONVERSATIONS_PER_CLAIM = 200


class StoreUnavailable(RuntimeError):
    """The store could not be reached or did not answer as it should."""


class PushingChannel(Protocol):
    """A channel that reaches residents without waiting for them (connectors/notices.py)."""

    def name(self) -> str: ...

    def notice_reach(self) -> list[str] | None:
        """The conversations this server can push to now; None for any of the channel's."""

    async def push_notice(self, notice: Notice) -> str | None:
        """None once given, else the reason it was not (connectors/notices.py)."""


def worker_id() -> str:
    """This server's name in the store's leases: host, process and a random part (a
    restarted process with a reused pid must not pass for its predecessor)."""
    name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    return _NOT_IN_WORKER_ID.sub("_", name)[-64:]


@dataclass(frozen=True)
class NoticeWords:
    """The words around each kind of notice: `utter_notice_<kind>` with `{text}`, and the
    buttons that come with it (the rating invitation's levels)."""

    templates: dict[str, str]
    buttons: dict[str, tuple[Option, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, domain_file: Path = DOMAIN_FILE) -> NoticeWords:
        responses = yaml.safe_load(domain_file.read_text(encoding="utf-8")).get("responses") or {}
        templates, buttons = {}, {}
        for name, variants in responses.items():
            if not name.startswith(WORDS_PREFIX):
                continue
            first = (variants or [{}])[0]
            template = str(first.get("text") or "")
            if "{text}" not in template:
                raise ValueError(f"{domain_file}: {name} needs a text with {{text}} in it")
            kind = name.removeprefix(WORDS_PREFIX)
            templates[kind] = template.strip()
            buttons[kind] = tuple(option(button) for button in first.get("buttons") or [])
        return cls(templates, buttons)

    def frame(self, kind: str, text: str) -> str:
        # replace, not format: what staff wrote may contain braces. A kind newer than
        # this server's domain still reaches the resident, in staff's words alone.
        return self.templates.get(kind, "{text}").replace("{text}", text)

    def notice(self, item: dict[str, Any]) -> Notice:
        """A notice the store gave (NotificationClaimed), in the domain's words."""
        kind = str(item["kind"])
        return Notice(
            id=int(item["id"]),
            conversation_id=str(item["conversation_id"]),
            kind=kind,
            text=self.frame(kind, str(item["text"])),
            buttons=self.buttons.get(kind, ()),
        )


class NoticeStore:
    """The store's delivery routes (backend/openapi.yaml, tag `delivery`)."""

    def __init__(self, url: str, token: str, worker: str) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.worker = worker
        self._http: aiohttp.ClientSession | None = None

    async def claim(
        self,
        channels: Iterable[str],
        *,
        limit: int,
        timeout: float,
        conversation_ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "channels": list(channels),
            "worker_id": self.worker,
            "limit": limit,
            "lease_seconds": settings.NOTICE_LEASE_SECONDS,
        }
        if conversation_ids is not None:
            body["conversation_ids"] = conversation_ids
        answer = await self._post("/notifications/claim", body, timeout)
        return list(answer["notifications"])

    async def delivered(self, notice_id: int) -> None:
        await self._post(
            f"/notifications/{notice_id}/delivered",
            {"worker_id": self.worker},
            settings.NOTICE_STORE_TIMEOUT_SECONDS,
        )

    async def failed(self, notice_id: int, error: str) -> None:
        await self._post(
            f"/notifications/{notice_id}/failed",
            {"worker_id": self.worker, "error": error},
            settings.NOTICE_STORE_TIMEOUT_SECONDS,
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _post(self, path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        # Created lazily so that it belongs to the server's running loop.
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        try:
            async with self._http.post(
                self._url + path,
                json=body,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if response.status != 200:
                    # A 409 on a failure report: the lease had passed, another server
                    # holds the notice now. Nothing else to do either way.
                    raise StoreUnavailable(f"{path.split('/')[-1]}: HTTP {response.status}")
                return await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise StoreUnavailable(f"{path.split('/')[-1]}: {type(error).__name__}") from None


class NoticeWorker:
    """Takes notices for residents who are there, and pushes due ones (module doc)."""

    def __init__(
        self,
        store: NoticeStore,
        words: NoticeWords,
        channels: Iterable[Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._words = words
        self._clock = clock
        self._pushing: list[PushingChannel] = []
        # After a failed store call residents' look-ups pause for a poll interval.
        self._store_down_until = 0.0
        # Rounds log the store going down and coming back, not every round between.
        self._rounds_failing = False
        for channel in channels:
            if hasattr(channel, "attach_notices"):
                channel.attach_notices(self)
                if hasattr(channel, "push_notice"):
                    self._pushing.append(channel)

    async def take(self, conversation_id: str) -> list[Notice]:
        """The conversation's waiting notices, leased to this server (NoticeSource)."""
        if self._clock() < self._store_down_until:
            return []
        channel = conversation_id.partition(":")[0]
        try:
            claimed = await self._store.claim(
                [channel],
                limit=settings.NOTICE_BATCH,
                timeout=settings.NOTICE_TAKE_TIMEOUT_SECONDS,
                conversation_ids=[conversation_id],
            )
        except StoreUnavailable as error:
            self._store_down_until = self._clock() + settings.NOTICE_POLL_SECONDS
            logger.warning("Notices: none taken, the store is unavailable (%s)", error)
            return []
        return [self._words.notice(item) for item in claimed]

    async def given(self, notices: list[Notice]) -> None:
        """Report them delivered (NoticeSource)."""
        for notice in notices:
            await self._report(notice, None)

    async def deliver_due(self) -> int:
        """One round: push the due notices of every pushing channel; how many it tried."""
        tried = 0
        try:
            for channel in self._pushing:
                reach = channel.notice_reach()
                if reach is None:
                    tried += await self._deliver(channel, None)
                for start in range(0, len(reach or ()), CONVERSATIONS_PER_CLAIM):
                    scope = reach[start : start + CONVERSATIONS_PER_CLAIM]
                    tried += await self._deliver(channel, scope)
        except StoreUnavailable as error:
            if not self._rounds_failing:
                logger.warning("Notices: none claimed, the store is unavailable (%s)", error)
            self._rounds_failing = True
            return tried
        if self._rounds_failing:
            logger.info("Notices: the store is available again")
        self._rounds_failing = False
        return tried

    async def run(self, stopping: asyncio.Event) -> None:
        """Rounds every NOTICE_POLL_SECONDS until `stopping` is set."""
        while not stopping.is_set():
            try:
                await self.deliver_due()
            except Exception as error:  # a bad round must not end delivery for good
                logger.error("Notices: a delivery round failed (%s)", type(error).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), settings.NOTICE_POLL_SECONDS)

    async def close(self) -> None:
        await self._store.close()

    async def _deliver(self, channel: PushingChannel, scope: list[str] | None) -> int:
        claimed = await self._store.claim(
            [channel.name()],
            limit=settings.NOTICE_BATCH,
            timeout=settings.NOTICE_STORE_TIMEOUT_SECONDS,
            conversation_ids=scope,
        )
        for item in claimed:
            await self._push(channel, self._words.notice(item))
        return len(claimed)

    async def _push(self, channel: PushingChannel, notice: Notice) -> None:
        try:
            reason = await channel.push_notice(notice)
        except Exception as error:  # the channel's own fault: tried again later
            logger.error("Notices: %s push failed (%s)", channel.name(), type(error).__name__)
            reason = CHANNEL_UNAVAILABLE
        await self._report(notice, reason)

    async def _report(self, notice: Notice, reason: str | None) -> None:
        try:
            if reason is None:
                await self._store.delivered(notice.id)
            else:
                await self._store.failed(notice.id, reason)
        except StoreUnavailable as error:
            # Its lease passes and it is claimed again: given twice rather than lost.
            logger.warning("Notices: notice %d not reported (%s)", notice.id, error)


@dataclass
class RunningWorker:
    worker: NoticeWorker
    stopping: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Lets the round in progress finish and report, for as long as a store call
        may take; a round still running then is cancelled, and the notices it had not
        reported are given again when their leases pass (at least once)."""
        self.stopping.set()
        await asyncio.wait({self.task}, timeout=2 * settings.NOTICE_STORE_TIMEOUT_SECONDS)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.worker.close()


def start(channels: Iterable[Any]) -> RunningWorker | None:
    """The worker for these input channels, running on the current loop; None (logged)
    without the store's service token."""
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        logger.warning(
            "Notices off: %s is not set, staff messages will not reach residents.",
            TOKEN_VARIABLE,
        )
        return None
    store = NoticeStore(settings.STORE_URL, token, worker_id())
    worker = NoticeWorker(store, NoticeWords.load(), channels)
    stopping = asyncio.Event()
    task = asyncio.get_running_loop().create_task(worker.run(stopping))
    return RunningWorker(worker, stopping, task)
