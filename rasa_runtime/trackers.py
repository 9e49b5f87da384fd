"""Conversations encrypted at rest, erased on request, deleted after their retention.

Rasa stores every event of a conversation as JSON: what residents typed (ID numbers,
phone numbers, names) and the slots holding those answers. This SQL tracker store
encrypts each event's JSON with Fernet as it is written and decrypts it as it is
loaded; rows written before encryption was switched on are read as they are. The
columns Rasa queries by (sender, event type, intent and action name, time) stay plain;
they hold no personal data. So do the events that only name what the assistant did
(which action ran, which form is active): about half of all events, and every turn
decrypts the whole conversation again.

`RASA_TRACKER_KEY` holds one Fernet key or several, comma-separated, newest first: new
events are encrypted with the newest, and any of them decrypts. To retire a key, put a
new one in front, restart, run `python -m rasa_runtime.rotate_keys` (every stored event
re-encrypted with the newest key), then drop the old key.

A resident who asks for their conversation to be deleted ends the turn with the slot
`erase_conversation` set; saving that tracker deletes every stored event of the
conversation instead, and tells the event broker (`conversation_erased`: the capture
broker passes the erasure on to the status store). WeChat's unsubscribe erases the same
way (connectors/wechat/privacy.py). Conversations untouched for `CONVERSATION_RETENTION_DAYS` are
deleted by `delete_idle_conversations` (daily in the server, or as a command:
`python -m rasa_runtime.retention`).

The encryption hooks sit on Rasa's one `SQLEvent` model, so they serve every SQL
tracker store in the process; a Rasa server has one.

The events of each save go to the event broker (`rasa_runtime.capture`) after they are
committed, and only those: Rasa's own streaming loads and decrypts the whole
conversation a second time to find them, before anything is stored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Protocol, runtime_checkable

from cryptography.fernet import Fernet, MultiFernet
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore, create_tracker_store
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm.attributes import set_committed_value

logger = logging.getLogger(__name__)

KEY_VARIABLE = "RASA_TRACKER_KEY"
ERASE_SLOT = "erase_conversation"
# Every Fernet token starts with its version byte 0x80, base64-encoded.
_TOKEN_PREFIX = "gAAAAA"
_ROTATION_BATCH = 500

# Event types whose data holds names and scores only, never anything a resident said.
PLAIN_EVENT_TYPES = frozenset({"action", "active_loop", "session_started"})

_cipher: MultiFernet | None = None
# The events the current save stores, per task (saves of several conversations overlap).
_stored_events: ContextVar[tuple[Event, ...]] = ContextVar("stored_events", default=())


@runtime_checkable
class ErasureListener(Protocol):
    """An event broker that passes a conversation's erasure on (rasa_runtime.capture)."""

    def conversation_erased(self, conversation_id: str) -> None: ...


def cipher_from_environment() -> MultiFernet:
    """The keys of `RASA_TRACKER_KEY`, newest first."""
    keys = [key.strip() for key in os.environ.get(KEY_VARIABLE, "").split(",") if key.strip()]
    if not keys:
        raise ValueError(
            f"{KEY_VARIABLE} is not set: conversations hold personal data and are "
            "only stored encrypted (make run generates the key into var/secrets.env)."
        )
    return MultiFernet([Fernet(key) for key in keys])


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store (SQLite or PostgreSQL) with encrypted event data."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        global _cipher
        _cipher = cipher_from_environment()
        super().__init__(*args, **kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        if tracker.get_slot(ERASE_SLOT) is True:
            deleted = self.erase_conversation(tracker.sender_id)
            logger.info("Conversation erased on the resident's request (%d events)", deleted)
            return
        await super().save(tracker)
        if self.event_broker is not None:
            await self._stream_new_events(
                self.event_broker, list(_stored_events.get()), tracker.sender_id
            )

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Nothing before the save: `save` streams what it stored."""

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator[Event]:
        events = tuple(super()._additional_events(session, tracker))
        _stored_events.set(events)
        return iter(events)

    def erase_conversation(self, sender_id: str) -> int:
        """Deletes the conversation and tells the event broker; returns how many events
        were deleted."""
        deleted = self.delete_conversation(sender_id)
        if isinstance(self.event_broker, ErasureListener):
            self.event_broker.conversation_erased(sender_id)
        return deleted

    def delete_conversation(self, sender_id: str) -> int:
        """Deletes every stored event of one conversation; returns how many."""
        with self.session_scope() as session:
            result = session.execute(
                delete(self.SQLEvent.__table__).where(self.SQLEvent.sender_id == sender_id)
            )
            session.commit()
            return int(result.rowcount)

    def delete_idle_conversations(self, before: float) -> int:
        """Deletes the conversations whose newest event is older than `before` (a Unix
        time); returns how many."""
        events = self.SQLEvent.__table__
        idle = (
            select(events.c.sender_id)
            .group_by(events.c.sender_id)
            .having(func.max(events.c.timestamp) < before)
        )
        with self.session_scope() as session:
            senders = session.execute(idle).scalars().all()
            for sender_id in senders:
                session.execute(delete(events).where(events.c.sender_id == sender_id))
            session.commit()
        return len(senders)

    def rotate_keys(self) -> int:
        """Re-encrypts every stored event with the newest key (events stored before
        encryption are encrypted); returns how many rows were rewritten."""
        assert _cipher is not None
        events = self.SQLEvent.__table__
        rewritten, last_id = 0, 0
        while True:
            with self.session_scope() as session:
                rows = session.execute(
                    select(events.c.id, events.c.type_name, events.c.data)
                    .where(events.c.id > last_id)
                    .order_by(events.c.id)
                    .limit(_ROTATION_BATCH)
                ).all()
                for row_id, type_name, data in rows:
                    rotated = _rotated(type_name, data)
                    if rotated is not None:
                        session.execute(
                            update(events).where(events.c.id == row_id).values(data=rotated)
                        )
                        rewritten += 1
                session.commit()
            if len(rows) < _ROTATION_BATCH:
                return rewritten
            last_id = rows[-1][0]


def _rotated(type_name: str, data: str) -> str | None:
    assert _cipher is not None
    if data.startswith(_TOKEN_PREFIX):
        return _cipher.rotate(data.encode()).decode()
    if type_name not in PLAIN_EVENT_TYPES:
        return _cipher.encrypt(data.encode()).decode()
    return None


def encrypted_store_of(store: TrackerStore) -> EncryptedSQLTrackerStore:
    """The encrypted store behind Rasa's wrappers (AwaitableTrackerStore ...)."""
    while not isinstance(store, EncryptedSQLTrackerStore):
        inner = getattr(store, "_tracker_store", None)
        if inner is None:
            raise TypeError(f"{type(store).__name__} is not the encrypted SQL tracker store")
        store = inner
    return store


@event.listens_for(SQLTrackerStore.SQLEvent, "before_insert")
def _encrypt(_mapper: Any, _connection: Any, row: Any) -> None:
    if _cipher is not None and row.type_name not in PLAIN_EVENT_TYPES:
        row.data = _cipher.encrypt(row.data.encode()).decode()


@event.listens_for(SQLTrackerStore.SQLEvent, "load")
def _decrypt(row: Any, _context: Any) -> None:
    if _cipher is not None and row.data.startswith(_TOKEN_PREFIX):
        # Set as loaded, not as a change: the row must not look modified.
        set_committed_value(row, "data", _cipher.decrypt(row.data.encode()).decode())


def store_from_endpoints(endpoints_file: str) -> EncryptedSQLTrackerStore:
    """The tracker store an endpoints file configures, for the commands run beside the
    server (retention, key rotation)."""
    endpoints = AvailableEndpoints.read_endpoints(endpoints_file)
    return encrypted_store_of(create_tracker_store(endpoints.tracker_store))
