"""Conversation events are stored encrypted and read back unchanged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_runtime import trackers
from rasa_runtime.trackers import KEY_VARIABLE, EncryptedSQLTrackerStore

ROOT = Path(__file__).resolve().parents[2]
ID_NUMBER, PHONE = "510304195503120042", "13812345678"


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    # The cipher is process-wide: restored to "none" after each test.
    monkeypatch.setattr(trackers, "_cipher", None)
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_VARIABLE, key)
    return key


def stored_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.glob("tracker.db*")))


def resident_tracker() -> DialogueStateTracker:
    events = [
        UserUttered(f"身份证{ID_NUMBER}，电话{PHONE}"),
        ActionExecuted("elderly_card_form"),
        SlotSet("id_number", ID_NUMBER),
        SlotSet("phone", PHONE),
        BotUttered(f"您的电话是{PHONE}，对吗？"),
    ]
    return DialogueStateTracker.from_events("o-resident", events)


async def test_events_are_unreadable_at_rest_and_read_back(key: str, tmp_path: Path) -> None:
    domain = Domain.load(ROOT / "domain.yml")
    store = EncryptedSQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "tracker.db"))
    await store.save(resident_tracker())

    raw = stored_bytes(tmp_path)
    assert b"o-resident" in raw  # the row is there, under its plain sender id
    assert ID_NUMBER.encode() not in raw and PHONE.encode() not in raw

    tracker = await store.retrieve("o-resident")
    assert tracker is not None
    assert list(tracker.events) == list(resident_tracker().events)

    with sqlite3.connect(tmp_path / "tracker.db") as connection:
        rows = connection.execute("SELECT type_name, data FROM events").fetchall()
    # Only events naming what the assistant did stay readable.
    assert {kind for kind, data in rows if not data.startswith("gAAAAA")} == {"action"}


async def test_rasa_plain_store_is_the_control(tmp_path: Path, key: str) -> None:
    # Without the encrypted store nothing is encrypted: the check above can fail.
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))
    await store.save(resident_tracker())
    assert ID_NUMBER.encode() in stored_bytes(tmp_path)


async def test_rows_stored_before_encryption_are_still_read(key: str, tmp_path: Path) -> None:
    db = str(tmp_path / "tracker.db")
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    plain = UserUttered("低保咋个办").as_dict()
    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
            ("o-early", "user", plain["timestamp"], json.dumps(plain)),
        )
    tracker = await store.retrieve("o-early")
    assert tracker is not None and tracker.latest_message.text == "低保咋个办"


def test_no_key_no_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    with pytest.raises(ValueError, match=KEY_VARIABLE):
        EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
