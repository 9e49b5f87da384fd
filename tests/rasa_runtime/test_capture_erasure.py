"""A resident's erasure reaches a real status store through the capture outbox: the
conversation's items still waiting are dropped, the store erases what it received
before, and a store down when the resident asks only delays it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from cryptography.fernet import MultiFernet
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_runtime.capture import ERASE_PATH, CaptureBroker
from rasa_runtime.outbox import Forwarder, Outbox, StoreEndpoint
from rasa_runtime.trackers import ERASE_SLOT, EncryptedSQLTrackerStore
from tests.rasa_runtime.capture_store import QUICK_RETRIES, TOKEN, delivered
from tests.rasa_runtime.capture_turns import fallback_turn, out_of_scope_turn, streamed
from tests.servers import StoreProcess

ROOT = Path(__file__).resolve().parents[2]
LEAVING, STAYING = "wechat:oLeavingResident0001", "rest:staying-resident"


def questions_of(store: StoreProcess, conversation: str) -> int:
    with sqlite3.connect(store.stack.folder / "store.db") as db:
        return db.execute(
            "SELECT count(*) FROM inbox_items WHERE conversation_id = ?", (conversation,)
        ).fetchone()[0]


async def test_an_erasure_asked_while_the_store_is_down_reaches_it_and_nothing_after(
    tmp_path: Path, cipher: MultiFernet, store: StoreProcess
) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    forwarder = Forwarder(outbox, StoreEndpoint(store.url, TOKEN, 2), QUICK_RETRIES)
    broker = CaptureBroker(outbox, forwarder)
    tracker_store = EncryptedSQLTrackerStore(
        Domain.load(ROOT / "domain.yml"),
        dialect="sqlite",
        db=str(tmp_path / "tracker.db"),
        event_broker=broker,
    )
    broker.start()
    leaving = DialogueStateTracker.from_events(LEAVING, fallback_turn("我家猫跑了咋个办"))
    staying = DialogueStateTracker.from_events(STAYING, fallback_turn("我家狗跑了咋个办"))
    await tracker_store.save(leaving)
    await tracker_store.save(staying)
    await delivered(outbox)
    assert (questions_of(store, LEAVING), questions_of(store, STAYING)) == (1, 1)

    store.stop()
    for turn in (out_of_scope_turn(), fallback_turn("还有个事")):
        for event in turn:
            leaving.update(event)
        await tracker_store.save(leaving)
    for event in out_of_scope_turn():
        staying.update(event)
    await tracker_store.save(staying)
    assert outbox.waiting() == 3

    # 「删除我的聊天记录」 confirmed: the action's slot makes the save an erasure.
    leaving.update(SlotSet(ERASE_SLOT, True))
    await tracker_store.save(leaving)
    assert await tracker_store.retrieve_full_tracker(LEAVING) is None
    # The two waiting items of the leaving resident went; the erasure waits behind.
    assert outbox.waiting() == 2
    await asyncio.sleep(0.5)  # a few failed attempts: nothing is given up
    assert outbox.waiting() == 2 and outbox.dead_letters() == []

    store.stack.start("store")
    await delivered(outbox)
    assert questions_of(store, LEAVING) == 0
    assert questions_of(store, STAYING) == 2
    assert outbox.dead_letters() == []
    await broker.close()


def test_only_a_channel_conversation_is_erased_in_the_store(
    tmp_path: Path, cipher: MultiFernet
) -> None:
    """Rasa's HTTP API and tests talk in conversations the store refuses to name."""
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    forwarder = Forwarder(outbox, StoreEndpoint("http://127.0.0.1:9", TOKEN, 2), QUICK_RETRIES)
    broker = CaptureBroker(outbox, forwarder)
    for event in streamed(fallback_turn(), LEAVING):
        broker.publish(event)
    broker.conversation_erased("default")
    assert outbox.waiting() == 1
    broker.conversation_erased(LEAVING)
    entry = outbox.oldest()
    assert entry is not None
    assert (outbox.waiting(), entry.path, entry.body) == (
        1,
        ERASE_PATH,
        {"conversation_id": LEAVING},
    )
