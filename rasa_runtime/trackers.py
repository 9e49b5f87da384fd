"""Conversations encrypted at rest.

Rasa stores every event of a conversation as JSON: what residents typed (ID numbers,
phone numbers, names) and the slots holding those answers. This SQL tracker store
encrypts each event's JSON with Fernet (key: `RASA_TRACKER_KEY`) as it is written and
decrypts it as it is loaded; rows written before encryption was switched on are read
as they are. The columns Rasa queries by (sender, event type, intent and action name,
time) stay plain; they hold no personal data. So do the events that only name what the
assistant did (which action ran, which form is active): about half of all events, and
every turn decrypts the whole conversation again.

The encryption hooks sit on Rasa's one `SQLEvent` model, so they serve every SQL
tracker store in the process; a Rasa server has one.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.fernet import Fernet
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy import event
from sqlalchemy.orm.attributes import set_committed_value

KEY_VARIABLE = "RASA_TRACKER_KEY"
# Every Fernet token starts with its version byte 0x80, base64-encoded.
_TOKEN_PREFIX = "gAAAAA"

# Event types whose data holds names and scores only, never anything a resident said.
PLAIN_EVENT_TYPES = frozenset({"action", "active_loop", "session_started"})

_cipher: Fernet | None = None


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store (SQLite or PostgreSQL) with encrypted event data."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        global _cipher
        key = os.environ.get(KEY_VARIABLE)
        if not key:
            raise ValueError(
                f"{KEY_VARIABLE} is not set: conversations hold personal data and are "
                "only stored encrypted (make run generates the key into var/secrets.env)."
            )
        _cipher = Fernet(key)
        super().__init__(*args, **kwargs)


@event.listens_for(SQLTrackerStore.SQLEvent, "before_insert")
def _encrypt(_mapper: Any, _connection: Any, row: Any) -> None:
    if _cipher is not None and row.type_name not in PLAIN_EVENT_TYPES:
        row.data = _cipher.encrypt(row.data.encode()).decode()


@event.listens_for(SQLTrackerStore.SQLEvent, "load")
def _decrypt(row: Any, _context: Any) -> None:
    if _cipher is not None and row.data.startswith(_TOKEN_PREFIX):
        # Set as loaded, not as a change: the row must not look modified.
        set_committed_value(row, "data", _cipher.decrypt(row.data.encode()).decode())
