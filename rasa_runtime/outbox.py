"""The capture outbox: a local SQLite file the store's inbox is fed from, in order.

Writing an item is a local insert (no network), so a turn never waits on the store; a
forwarder on the server's event loop posts the items one by one, oldest first, and
deletes each after a 2xx. While the store is down or restarting it retries the same
item, waiting longer each time up to a cap. An item the store refuses for what it is
(400, 404, 409, 413, 422) moves to the dead-letter table, is logged without its
content and never blocks the items after it. Whatever is not delivered when the server
stops stays in the file and is sent by the next start: the file is named after the
server's port (`rasa_runtime.settings.capture_outbox_path`).

Items hold what residents wrote and what they were told: each body is encrypted with
the conversations' key (`RASA_TRACKER_KEY`), and the file is created readable by its
owner only. An item is tagged with a keyed hash of its conversation (the key is kept in
the file, encrypted like the bodies), so that when a resident's conversation is erased
its items still waiting are dropped in the same transaction that queues the store's
erasure — behind everything else, so nothing of the conversation reaches the store
after it.

The file also holds the turn counts not yet sent (`count_turn`): `seal_counts` moves
them into outbox items, each with a batch id of its own, so a retried batch is added
once by the store and counts survive a restart like items do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.fernet import InvalidToken, MultiFernet

logger = logging.getLogger(__name__)

# Refusals of the item itself: retrying cannot change the answer.
PERMANENT_STATUSES = frozenset({400, 404, 409, 413, 422})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS turn_counts (
    day TEXT NOT NULL,
    channel TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, channel, outcome)
);
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY,
    token BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    body BLOB NOT NULL,
    status INTEGER NOT NULL,
    error TEXT NOT NULL
);
"""
# Files written before conversations were tagged get the column (their items untagged).
_CONVERSATION_COLUMN = "ALTER TABLE outbox ADD COLUMN conversation TEXT"
_CONVERSATION_INDEX = "CREATE INDEX IF NOT EXISTS outbox_conversation ON outbox (conversation)"
_PSEUDONYM_KEY = "conversation_pseudonyms"
# The store's limit of rows per batch (backend/openapi.yaml, schema TurnCounts).
MAX_COUNTS_PER_BATCH = 500


@dataclass(frozen=True)
class Entry:
    """An item waiting: where it goes and what is sent."""

    id: int
    path: str
    body: dict[str, Any] | None  # None: no key of RASA_TRACKER_KEY opens it any more


class Outbox:
    """The file's tables; safe to use from several threads (Rasa saves conversations
    on the engine thread, the forwarder reads on the server's loop)."""

    def __init__(self, path: str, cipher: MultiFernet) -> None:
        self._cipher = cipher
        _create_private(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL: a write is one append; NORMAL still survives a killed process.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "conversation" not in columns:
            self._db.execute(_CONVERSATION_COLUMN)
        self._db.execute(_CONVERSATION_INDEX)
        self._pseudonym_key = self._read_pseudonym_key()

    def add(
        self, items: Iterable[tuple[str, dict[str, Any]]], conversation: str | None = None
    ) -> None:
        """Appends (path, body) items in order, all or none, tagged with the conversation
        they belong to (if any)."""
        tag = self._pseudonym(conversation)
        rows = [(path, self._sealed(body), tag) for path, body in items]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO outbox (path, body, conversation) VALUES (?, ?, ?)", rows
            )

    def erase(self, conversation: str, path: str, body: dict[str, Any]) -> int:
        """Drops the conversation's items still waiting and appends the erasure request
        (path, body) after everything else, in one transaction; returns how many were
        dropped."""
        tag = self._pseudonym(conversation)
        with self._transaction():
            dropped = self._db.execute("DELETE FROM outbox WHERE conversation = ?", (tag,))
            self._db.execute(
                "INSERT INTO outbox (path, body, conversation) VALUES (?, ?, ?)",
                (path, self._sealed(body), tag),
            )
        return int(dropped.rowcount)

    def count_turn(self, day: str, channel: str, outcome: str) -> None:
        """One more turn of that local day, channel and outcome, until `seal_counts`."""
        with self._lock:
            self._db.execute(
                "INSERT INTO turn_counts (day, channel, outcome, count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (day, channel, outcome) DO UPDATE SET count = count + 1",
                (day, channel, outcome),
            )

    def seal_counts(self, path: str) -> int:
        """Moves the turn counts into items for `path` (at most MAX_COUNTS_PER_BATCH rows
        each, every one with a batch id of its own); returns how many items."""
        with self._transaction():
            rows = self._db.execute(
                "SELECT day, channel, outcome, count FROM turn_counts "
                "ORDER BY day, channel, outcome"
            ).fetchall()
            self._db.execute("DELETE FROM turn_counts")
            batches = [
                _count_batch(rows[start : start + MAX_COUNTS_PER_BATCH])
                for start in range(0, len(rows), MAX_COUNTS_PER_BATCH)
            ]
            self._db.executemany(
                "INSERT INTO outbox (path, body) VALUES (?, ?)",
                [(path, self._sealed(batch)) for batch in batches],
            )
        return len(batches)

    def oldest(self) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, path, body FROM outbox ORDER BY id LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        entry_id, path, token = row
        try:
            body = json.loads(self._cipher.decrypt(token))
        except InvalidToken:
            body = None
        return Entry(entry_id, path, body)

    def delivered(self, entry: Entry) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (entry.id,))

    def refused(self, entry: Entry, status: int, error: str) -> None:
        """Moves the entry to the dead letters, kept for staff to look at."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO dead_letters (id, path, body, status, error) "
                "SELECT id, path, body, ?, ? FROM outbox WHERE id = ?",
                (status, error, entry.id),
            )
            self._db.execute("DELETE FROM outbox WHERE id = ?", (entry.id,))

    def waiting(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def dead_letters(self) -> list[tuple[str, int, str]]:
        """(path, status, error) of every refused item, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT path, status, error FROM dead_letters ORDER BY id"
            ).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """All or none: the connection commits each statement on its own otherwise."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _sealed(self, body: dict[str, Any]) -> bytes:
        return self._cipher.encrypt(json.dumps(body).encode())

    def _pseudonym(self, conversation: str | None) -> str | None:
        if conversation is None:
            return None
        return hmac.new(self._pseudonym_key, conversation.encode(), hashlib.sha256).hexdigest()

    def _read_pseudonym_key(self) -> bytes:
        """The file's key for conversation tags; a new one when there is none or no key of
        RASA_TRACKER_KEY opens it any more (the items it tagged cannot be opened either)."""
        with self._transaction():
            row = self._db.execute(
                "SELECT token FROM keys WHERE name = ?", (_PSEUDONYM_KEY,)
            ).fetchone()
            if row is not None:
                with contextlib.suppress(InvalidToken):
                    return self._cipher.decrypt(row[0])
            key = secrets.token_bytes(32)
            self._db.execute(
                "INSERT OR REPLACE INTO keys (name, token) VALUES (?, ?)",
                (_PSEUDONYM_KEY, self._cipher.encrypt(key)),
            )
            return key


def _count_batch(rows: list[tuple[str, str, str, int]]) -> dict[str, Any]:
    """The body of `POST /metrics/turns`."""
    return {
        "batch_id": uuid.uuid4().hex,
        "counts": [
            {"day": day, "channel": channel, "outcome": outcome, "count": count}
            for day, channel, outcome, count in rows
        ],
    }


def _create_private(path: str) -> None:
    """Creates the file (and its folder) readable by its owner only, whatever the umask;
    SQLite gives its WAL and shared-memory files the database file's permissions."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class StoreEndpoint:
    url: str
    token: str
    timeout_seconds: float


@dataclass(frozen=True)
class Backoff:
    first_seconds: float
    max_seconds: float

    def after(self, failures: int) -> float:
        """The wait after `failures` failed attempts in a row (from 1)."""
        return min(self.max_seconds, self.first_seconds * 2 ** (failures - 1))


class Forwarder:
    """Posts the outbox's entries to the store, oldest first, one at a time."""

    def __init__(
        self,
        outbox: Outbox,
        store: StoreEndpoint,
        backoff: Backoff,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._outbox = outbox
        self._store = store
        self._backoff = backoff
        self._sleep = sleep
        self._loop: asyncio.AbstractEventLoop | None = None
        self._added = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts forwarding on the running loop: first what an earlier run left."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    def wake(self) -> None:
        """Something was added; callable from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._added.set)

    async def stop(self) -> None:
        """Stops forwarding; what is not delivered stays in the outbox."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self._store.token}"}
        timeout = aiohttp.ClientTimeout(total=self._store.timeout_seconds)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            failures = 0
            while True:
                self._added.clear()
                entry = self._outbox.oldest()
                if entry is None:
                    await self._added.wait()
                    continue
                if await self._attempt(session, entry):
                    failures = 0
                else:
                    failures += 1
                    await self._sleep(self._backoff.after(failures))

    async def _attempt(self, session: aiohttp.ClientSession, entry: Entry) -> bool:
        try:
            return await self._forwarded(session, entry)
        except Exception as error:  # the forwarder must outlive any one failure
            logger.error("Capture: forwarding failed (%s); retrying", type(error).__name__)
            return False

    async def _forwarded(self, session: aiohttp.ClientSession, entry: Entry) -> bool:
        """Delivers or buries the entry (True), or leaves it for a retry (False)."""
        if entry.body is None:
            self._bury(entry, 0, "undecryptable")
            return True
        try:
            async with session.post(self._store.url + entry.path, json=entry.body) as response:
                status, error = response.status, await _error_code(response)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as failure:
            logger.warning(
                "Capture: the store is unreachable (%s); retrying", type(failure).__name__
            )
            return False
        if 200 <= status < 300:
            self._outbox.delivered(entry)
            return True
        if status in PERMANENT_STATUSES:
            self._bury(entry, status, error)
            return True
        logger.warning("Capture: the store answered %d %s; retrying", status, error)
        return False

    def _bury(self, entry: Entry, status: int, error: str) -> None:
        self._outbox.refused(entry, status, error)
        # The path names the item (its capture id), never what the resident wrote.
        logger.error(
            "Capture: %s refused by the store (%d %s), kept in the outbox's dead letters",
            entry.path, status, error,
        )  # fmt: skip


async def _error_code(response: aiohttp.ClientResponse) -> str:
    """The store's error code (`{"error": code, ...}`); never its message or the body."""
    if response.status < 400:
        return ""
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    return str(code)[:64] if code else ""
