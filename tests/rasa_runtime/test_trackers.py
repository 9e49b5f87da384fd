"""Conversation events are stored encrypted and read back unchanged; keys rotate,
conversations are erased on request and deleted after their retention period."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from rasa.core.tracker_store import AwaitableTrackerStore, InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_runtime import retention, rotate_keys, trackers
from rasa_runtime.trackers import ERASE_SLOT, KEY_VARIABLE, EncryptedSQLTrackerStore

ROOT = Path(__file__).resolve().parents[2]
ID_NUMBER, PHONE = "510304195503120042", "13812345678"


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    # The cipher is process-wide: restored to "none" after each test.
    monkeypatch.setattr(trackers, "_cipher", None)
    key = Fernet.generate_key().decode()
    # The variable's name is a contract with scripts/processes.py and the README.
    monkeypatch.setenv("RASA_TRACKER_KEY", key)
    return key


def stored_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.glob("tracker.db*")))


def resident_tracker() -> DialogueStateTracker:
    events = [
        UserUttered(f"身份证{ID_NUMBER}，电话{PHONE}"),
        ActionExecuted("elderly_card_form"),
        ActiveLoop("elderly_card_form"),
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
    assert {kind for kind, data in rows if not data.startswith("gAAAAA")} == {
        "action",
        "active_loop",
    }


async def test_a_new_session_stays_readable(key: str, tmp_path: Path) -> None:
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    events = [ActionExecuted("action_session_start"), SessionStarted(), UserUttered("你好")]
    await store.save(DialogueStateTracker.from_events("o-session", events))
    rows = raw_rows(tmp_path, "t.db")
    assert {kind for _, kind, data in rows if not data.startswith("gAAAAA")} == {
        "action",
        "session_started",
    }


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
    # Says what is missing and where the key comes from.
    message = r"^RASA_TRACKER_KEY is not set.*make run generates the key into var/secrets\.env\)\.$"
    with pytest.raises(ValueError, match=message):
        EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))


def raw_rows(folder: Path, name: str = "tracker.db") -> list[tuple[str, str, str]]:
    with sqlite3.connect(folder / name) as connection:
        return connection.execute("SELECT sender_id, type_name, data FROM events").fetchall()


async def test_rotation_re_encrypts_every_event_with_the_newest_key(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "tracker.db")
    await EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=db).save(resident_tracker())
    old = Fernet(key)
    old_tokens = [data for _, _, data in raw_rows(tmp_path) if data.startswith("gAAAAA")]
    assert old_tokens and all(old.decrypt(token.encode()) for token in old_tokens)

    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_VARIABLE, f"{new_key},{key}")
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    # Before rotation the old key's events still read.
    assert list((await store.retrieve("o-resident")).events) == list(resident_tracker().events)
    assert store.rotate_keys() == len(old_tokens)

    new_only = Fernet(new_key)
    for _, _, data in raw_rows(tmp_path):
        if data.startswith("gAAAAA"):
            assert new_only.decrypt(data.encode())
            with pytest.raises(InvalidToken):
                old.decrypt(data.encode())
    # The old key can go: the new one alone reads the conversation.
    monkeypatch.setenv(KEY_VARIABLE, new_key)
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    assert list((await store.retrieve("o-resident")).events) == list(resident_tracker().events)


async def test_rotation_goes_through_every_batch_once(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are rotated in batches; with batches of 3, seven encrypted rows take three."""
    monkeypatch.setattr(trackers, "_ROTATION_BATCH", 3)
    db = str(tmp_path / "tracker.db")
    events = [UserUttered(f"第{number}句") for number in range(7)]
    await EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=db).save(
        DialogueStateTracker.from_events("o-long", events)
    )
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_VARIABLE, f"{new_key},{key}")
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)

    assert store.rotate_keys() == 7
    new_only = Fernet(new_key)
    assert [new_only.decrypt(data.encode()) for _, _, data in raw_rows(tmp_path)]


async def test_the_encrypted_store_is_found_behind_rasas_wrapper(key: str, tmp_path: Path) -> None:
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    assert trackers.encrypted_store_of(AwaitableTrackerStore(store)) is store
    assert trackers.encrypted_store_of(store) is store
    # Retention and rotation refuse to run on another kind of store.
    with pytest.raises(TypeError, match=r"^InMemoryTrackerStore is not the encrypted SQL"):
        trackers.encrypted_store_of(AwaitableTrackerStore(InMemoryTrackerStore(Domain.empty())))


async def test_rotation_encrypts_rows_stored_before_encryption(key: str, tmp_path: Path) -> None:
    db = str(tmp_path / "tracker.db")
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    plain = UserUttered(f"身份证{ID_NUMBER}").as_dict()
    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
            ("o-early", "user", plain["timestamp"], json.dumps(plain)),
        )
    assert store.rotate_keys() == 1
    assert ID_NUMBER.encode() not in stored_bytes(tmp_path)
    tracker = await store.retrieve("o-early")
    assert tracker is not None and tracker.latest_message.text == plain["text"]


async def test_the_rotation_command_uses_the_endpoints_file(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "tracker.db"
    await EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db)).save(
        resident_tracker()
    )
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: rasa_runtime.trackers.EncryptedSQLTrackerStore\n"
        f"  dialect: sqlite\n  db: {db}\n",
        encoding="utf-8",
    )
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_VARIABLE, f"{new_key},{key}")
    rotate_keys.main(["--endpoints", str(endpoints)])
    tokens = [data for _, _, data in raw_rows(tmp_path) if data.startswith("gAAAAA")]
    assert tokens and all(Fernet(new_key).decrypt(token.encode()) for token in tokens)


def erasing_tracker(sender_id: str) -> DialogueStateTracker:
    domain = Domain.from_yaml(
        "version: '3.1'\nslots:\n  erase_conversation:\n    type: bool\n"
        "    influence_conversation: false\n    mappings:\n    - type: custom\n"
    )
    tracker = DialogueStateTracker.from_events(sender_id, [], slots=domain.slots)
    tracker.update_with_events([UserUttered("删除我的聊天记录"), SlotSet(ERASE_SLOT, True)], domain)
    return tracker


async def test_a_conversation_is_erased_when_the_resident_asks(
    key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    await store.save(DialogueStateTracker.from_events("o-erase", resident_tracker().events))
    await store.save(DialogueStateTracker.from_events("o-other", resident_tracker().events))

    with caplog.at_level(logging.INFO, logger="rasa_runtime.trackers"):
        await store.save(erasing_tracker("o-erase"))

    assert await store.retrieve("o-erase") is None
    # The log keeps that it happened, and nothing of what was said.
    assert "Conversation erased on the resident's request (6 events)" in caplog.messages
    # Nobody else's conversation goes with it.
    other = await store.retrieve("o-other")
    assert other is not None and len(other.events) == len(resident_tracker().events)


async def test_idle_conversations_are_deleted_after_the_retention(key: str, tmp_path: Path) -> None:
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    long_ago = time.time() - 181 * 24 * 3600
    old_events = [UserUttered("低保咋个办", timestamp=long_ago)]
    recent_events = [UserUttered("低保咋个办", timestamp=long_ago), UserUttered("谢谢")]
    await store.save(DialogueStateTracker.from_events("o-old", old_events))
    await store.save(DialogueStateTracker.from_events("o-recent", recent_events))

    assert retention.delete_expired(store, days=180) == 1

    assert await store.retrieve("o-old") is None
    # A conversation is kept whole while its newest event is within the period.
    recent = await store.retrieve("o-recent")
    assert recent is not None and [e.text for e in recent.events] == ["低保咋个办", "谢谢"]


async def test_a_conversation_idle_exactly_the_period_is_kept(key: str, tmp_path: Path) -> None:
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    last = time.time() - 3600
    await store.save(
        DialogueStateTracker.from_events("o-edge", [UserUttered("低保", timestamp=last)])
    )
    assert store.delete_idle_conversations(before=last) == 0
    assert store.delete_idle_conversations(before=last + 0.01) == 1


async def test_the_retention_command_uses_the_endpoints_file(key: str, tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store = EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    long_ago = time.time() - 181 * 24 * 3600
    await store.save(
        DialogueStateTracker.from_events("o-old", [UserUttered("低保", timestamp=long_ago)])
    )
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: rasa_runtime.trackers.EncryptedSQLTrackerStore\n"
        f"  dialect: sqlite\n  db: {db}\n",
        encoding="utf-8",
    )
    retention.main(["--endpoints", str(endpoints)])
    assert await store.retrieve("o-old") is None
