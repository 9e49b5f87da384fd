"""The capture outbox against a real status store on loopback: nothing is lost while
the store is down or when the Rasa server stops, nothing is stored twice, a refused
item does not hold back the others, and the file keeps no message readable."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import MultiFernet
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_runtime.capture import CaptureBroker
from rasa_runtime.outbox import Forwarder, Outbox, StoreEndpoint
from rasa_runtime.trackers import EncryptedSQLTrackerStore
from tests.rasa_runtime.capture_store import QUICK_RETRIES, TOKEN, delivered
from tests.rasa_runtime.capture_turns import (
    ELIGIBILITY,
    ELIGIBILITY_TITLE,
    answer_turn,
    clarify_turn,
    fallback_turn,
    handoff_turn,
    out_of_scope_turn,
    streamed,
)
from tests.servers import StoreProcess

ROOT = Path(__file__).resolve().parents[2]
# Short waits: the store comes back within the test, not after minutes.


class RecordingOutbox(Outbox):
    """The outbox, remembering every item written (to send them all again)."""

    def __init__(self, path: str, cipher: MultiFernet) -> None:
        super().__init__(path, cipher)
        self.written: list[tuple[str, dict[str, Any]]] = []

    def add(
        self, items: Iterable[tuple[str, dict[str, Any]]], conversation: str | None = None
    ) -> None:
        items = list(items)
        self.written.extend(items)
        super().add(items, conversation)


def forwarder_for(outbox: Outbox, store_url: str, token: str = TOKEN) -> Forwarder:
    return Forwarder(outbox, StoreEndpoint(store_url, token, timeout_seconds=2), QUICK_RETRIES)


def broker_for(outbox: Outbox, store_url: str) -> CaptureBroker:
    return CaptureBroker(outbox, forwarder_for(outbox, store_url))


def publish(broker: CaptureBroker, turns: Iterable[list[Any]], sender: str) -> None:
    for turn in turns:
        for event in streamed(turn, sender):
            broker.publish(event)


def stored_items(folder: Path) -> list[tuple[str, str, str | None]]:
    """(capture_id, reason, resolved_label) of every item in the store's database."""
    with sqlite3.connect(folder / "store.db") as db:
        return db.execute(
            "SELECT capture_id, reason, resolved_label FROM inbox_items ORDER BY id"
        ).fetchall()


def questions(count: int) -> list[list[Any]]:
    kinds = [fallback_turn, out_of_scope_turn, handoff_turn]
    return [kinds[i % len(kinds)](f"第{i}个没答上的问题") for i in range(count)]


async def test_nothing_is_lost_or_doubled_while_the_store_is_down(
    tmp_path: Path, cipher: MultiFernet, store: StoreProcess
) -> None:
    folder = store.stack.folder
    outbox = RecordingOutbox(str(tmp_path / "outbox.db"), cipher)
    forwarder = forwarder_for(outbox, store.url)
    broker = CaptureBroker(outbox, forwarder)
    broker.start()
    store.stop()
    count = 30
    publish(broker, questions(count), "rest:outage")
    # A did-you-mean and its button pressed while the store is down: resolved after it.
    publish(
        broker,
        [clarify_turn(), answer_turn(ELIGIBILITY_TITLE, ELIGIBILITY, ELIGIBILITY_TITLE)],
        "wechat:o-1",
    )
    await asyncio.sleep(1)  # a few failed attempts
    assert outbox.waiting() == count + 2
    store.stack.start("store")
    await delivered(outbox)

    items = stored_items(folder)
    assert len(items) == count + 1
    assert len({capture_id for capture_id, _, _ in items}) == count + 1
    assert [label for _, reason, label in items if reason == "clarified"] == [ELIGIBILITY]

    # Every item delivered a second time (a retry after a lost answer): none stored twice.
    outbox.add(outbox.written)
    forwarder.wake()
    await delivered(outbox)
    assert stored_items(folder) == items
    assert outbox.dead_letters() == []
    await broker.close()


async def test_items_written_before_a_crash_are_sent_by_the_next_start(
    tmp_path: Path, cipher: MultiFernet, store: StoreProcess
) -> None:
    path = str(tmp_path / "outbox.db")
    crashed = broker_for(Outbox(path, cipher), "http://127.0.0.1:9")
    publish(crashed, questions(5), "rest:crash")
    # Never closed, its forwarder never ran: as if the process had been killed.
    outbox = Outbox(path, cipher)
    assert outbox.waiting() == 5
    restarted = broker_for(outbox, store.url)
    restarted.start()
    await delivered(outbox)
    assert len(stored_items(store.stack.folder)) == 5
    await restarted.close()


async def test_a_stopped_broker_keeps_what_it_could_not_send(
    tmp_path: Path, cipher: MultiFernet
) -> None:
    path = str(tmp_path / "outbox.db")
    broker = broker_for(Outbox(path, cipher), "http://127.0.0.1:9")
    broker.start()
    publish(broker, questions(3), "rest:stopped")
    await asyncio.sleep(0.3)
    await broker.close()
    # The three items and the batch of their turns' counts, sealed at close.
    assert Outbox(path, cipher).waiting() == 3 + 1


async def test_an_item_the_store_refuses_goes_to_dead_letters_and_the_next_still_goes(
    tmp_path: Path, cipher: MultiFernet, store: StoreProcess
) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    broker = broker_for(outbox, store.url)
    refused = {"capture_id": "not a valid id!", "reason": "fallback", "text": "x"}
    outbox.add(
        [("/inbox/items", refused), ("/inbox/items/unknown-capture/resolution", {"label": "faq/x"})]
    )
    publish(broker, [fallback_turn("这条要送到")], "rest:after-refusal")
    broker.start()
    await delivered(outbox)
    assert [(path, status) for path, status, _ in outbox.dead_letters()] == [
        ("/inbox/items", 400),
        ("/inbox/items/unknown-capture/resolution", 404),
    ]
    assert [reason for _, reason, _ in stored_items(store.stack.folder)] == ["fallback"]
    await broker.close()


async def test_a_wrong_token_is_retried_not_dropped(
    tmp_path: Path, cipher: MultiFernet, store: StoreProcess
) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    broker = CaptureBroker(outbox, forwarder_for(outbox, store.url, "wrong"))
    broker.start()
    publish(broker, [fallback_turn()], "rest:token")
    await asyncio.sleep(1)
    assert outbox.waiting() == 1 and outbox.dead_letters() == []
    await broker.close()


def test_the_outbox_is_private_and_holds_no_message_readable(
    tmp_path: Path, cipher: MultiFernet
) -> None:
    path = tmp_path / "var" / "outbox.db"
    outbox = Outbox(str(path), cipher)
    broker = broker_for(outbox, "http://127.0.0.1:9")
    phrase = "我家猫跑了咋个办电话13812345678"
    publish(broker, [fallback_turn(phrase)], "wechat:oSecretOpenId")
    files = [path, Path(f"{path}-wal")]
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    stored = b"".join(file.read_bytes() for file in files)
    assert outbox.waiting() == 1
    for secret in (phrase, "13812345678", "oSecretOpenId", "不好意思"):
        assert secret.encode() not in stored


async def test_the_tracker_store_hands_the_broker_each_saved_event_once(
    tmp_path: Path, cipher: MultiFernet
) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    broker = broker_for(outbox, "http://127.0.0.1:9")
    store = EncryptedSQLTrackerStore(
        Domain.load(ROOT / "domain.yml"),
        dialect="sqlite",
        db=str(tmp_path / "tracker.db"),
        event_broker=broker,
    )
    tracker = DialogueStateTracker.from_events("rest:saved", fallback_turn())
    await store.save(tracker)
    await store.save(tracker)  # nothing new: nothing published
    assert outbox.waiting() == 1
    for event in handoff_turn():
        tracker.update(event)
    await store.save(tracker)
    assert outbox.waiting() == 2
