"""Turn counts for the dashboard: every resident turn counted by how it ended, per day in
China and channel, from event sequences as a real tracker holds them; sealed into
batches that reach a real store exactly once through a store outage, a retry and a
restart of the Rasa server."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import MultiFernet
from rasa.shared.core.events import Event

from rasa_runtime.capture import CaptureBroker
from rasa_runtime.outbox import MAX_COUNTS_PER_BATCH, Forwarder, Outbox, StoreEndpoint
from rasa_runtime.turn_counts import PATH, local_day
from rasa_runtime.turns import CHINA_STANDARD_TIME
from tests.rasa_runtime.capture_store import QUICK_RETRIES, TOKEN, delivered
from tests.rasa_runtime.capture_turns import (
    ELIGIBILITY,
    ELIGIBILITY_TITLE,
    answer_turn,
    clarify_turn,
    core_fallback_turn,
    fallback_turn,
    form_stopped_turn,
    handoff_turn,
    out_of_scope_turn,
    streamed,
)
from tests.servers import StoreProcess

# Never reached: the forwarder of a test that reads the outbox itself.
NOWHERE = "http://127.0.0.1:9"
# Flushed by the tests themselves, never by the clock.
NEVER = 3600.0

LATE_EVENING = datetime(2026, 12, 3, 23, 59, 58, tzinfo=CHINA_STANDARD_TIME).timestamp()
JUST_AFTER_MIDNIGHT = datetime(2026, 12, 4, 0, 0, 1, tzinfo=CHINA_STANDARD_TIME).timestamp()


def broker_for(outbox: Outbox, store_url: str = NOWHERE) -> CaptureBroker:
    forwarder = Forwarder(outbox, StoreEndpoint(store_url, TOKEN, 2), QUICK_RETRIES)
    return CaptureBroker(outbox, forwarder, flush_seconds=NEVER)


def publish(broker: CaptureBroker, turn: list[Event], sender: str, at: float | None = None) -> None:
    for event in streamed(turn, sender):
        if at is not None and event["event"] == "user":
            event["timestamp"] = at
        broker.publish(event)


def sealed_counts(outbox: Outbox) -> Counter[tuple[str, str, str]]:
    """What the batches waiting in the outbox add up to, by (day, channel, outcome)."""
    totals: Counter[tuple[str, str, str]] = Counter()
    while (entry := outbox.oldest()) is not None:
        if entry.path == PATH:
            assert entry.body is not None
            for row in entry.body["counts"]:
                totals[(row["day"], row["channel"], row["outcome"])] += row["count"]
        outbox.delivered(entry)
    return totals


def stored_counts(folder: Path) -> dict[tuple[str, str, str], int]:
    with sqlite3.connect(folder / "store.db") as db:
        rows = db.execute("SELECT day, channel, outcome, count FROM turn_counts").fetchall()
    return {(day, channel, outcome): count for day, channel, outcome, count in rows}


def test_every_turn_is_counted_by_how_it_ended(tmp_path: Path, cipher: MultiFernet) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    broker = broker_for(outbox)
    day = local_day(LATE_EVENING)
    # A resident on WeChat: two answers, a did-you-mean pressed (answered), a referral.
    for turn in (
        answer_turn("低保要带啥子材料"),
        answer_turn("低保标准是好多"),
        clarify_turn(),
        answer_turn(ELIGIBILITY_TITLE, ELIGIBILITY, ELIGIBILITY_TITLE),
        out_of_scope_turn(),
    ):
        publish(broker, turn, "wechat:oResident1", LATE_EVENING)
    # Another on REST: Rasa's own fallback, ours, a stopped form, a request for a person.
    for turn in (core_fallback_turn(), fallback_turn(), form_stopped_turn(), handoff_turn()):
        publish(broker, turn, "rest:resident-2", LATE_EVENING)
    publish(broker, answer_turn("老年证咋个办"), "socketio:s1", LATE_EVENING)
    # Rasa's HTTP API and tests talk in conversations no channel named: not residents.
    publish(broker, answer_turn("低保要带啥子材料"), "default", LATE_EVENING)

    assert broker.flush_counts() == 1
    assert sealed_counts(outbox) == {
        (day, "wechat", "answered"): 3,
        (day, "wechat", "clarified"): 1,
        (day, "wechat", "out_of_scope"): 1,
        (day, "rest", "fallback"): 2,
        (day, "rest", "form_stopped"): 1,
        (day, "rest", "handoff"): 1,
        (day, "socketio", "answered"): 1,
    }


def test_a_turn_counts_on_its_day_in_china(tmp_path: Path, cipher: MultiFernet) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    broker = broker_for(outbox)
    publish(broker, answer_turn("低保要带啥子材料"), "rest:night", LATE_EVENING)
    publish(broker, answer_turn("低保标准是好多"), "rest:night", JUST_AFTER_MIDNIGHT)
    broker.flush_counts()
    assert sealed_counts(outbox) == {
        ("2026-12-03", "rest", "answered"): 1,
        ("2026-12-04", "rest", "answered"): 1,
    }


def test_nothing_counted_seals_nothing(tmp_path: Path, cipher: MultiFernet) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    assert broker_for(outbox).flush_counts() == 0
    assert outbox.waiting() == 0


def test_many_rows_are_split_into_batches_the_store_takes(
    tmp_path: Path, cipher: MultiFernet
) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"), cipher)
    for day in range(MAX_COUNTS_PER_BATCH + 1):
        outbox.count_turn(f"day-{day:04d}", "rest", "answered")
    assert outbox.seal_counts(PATH) == 2
    first = outbox.oldest()
    assert first is not None and first.body is not None
    outbox.delivered(first)
    second = outbox.oldest()
    assert second is not None and second.body is not None
    assert [len(first.body["counts"]), len(second.body["counts"])] == [MAX_COUNTS_PER_BATCH, 1]
    assert first.body["batch_id"] != second.body["batch_id"]


async def test_counts_reach_the_store_once_through_an_outage_a_retry_and_a_restart(
    tmp_path: Path, cipher: MultiFernet, store: StoreProcess
) -> None:
    folder, path = store.stack.folder, str(tmp_path / "outbox.db")
    day = local_day(LATE_EVENING)
    outbox = Outbox(path, cipher)
    broker = broker_for(outbox, store.url)
    broker.start()
    store.stop()
    # Two flushes while the store is down: two batches wait.
    for _ in range(7):
        publish(broker, answer_turn("低保要带啥子材料"), "wechat:oOutage", LATE_EVENING)
    publish(broker, fallback_turn(), "wechat:oOutage", LATE_EVENING)
    broker.flush_counts()
    for _ in range(5):
        publish(broker, answer_turn("老年证咋个办"), "rest:outage", LATE_EVENING)
    broker.flush_counts()
    # Counted after the last flush: sealed when the server stops, sent by its next start.
    publish(broker, clarify_turn(), "rest:outage", LATE_EVENING)
    await asyncio.sleep(0.5)  # a few failed attempts
    batches = _waiting_bodies(path, cipher, PATH)
    assert len(batches) == 2
    await broker.close()

    store.stack.start("store")
    restarted = Outbox(path, cipher)
    again = broker_for(restarted, store.url)
    again.start()
    await delivered(restarted)
    expected = {
        (day, "wechat", "answered"): 7,
        (day, "wechat", "fallback"): 1,
        (day, "rest", "answered"): 5,
        (day, "rest", "clarified"): 1,
    }
    assert stored_counts(folder) == expected

    await again.close()

    # The same batches delivered again (an answer lost on the way): added once.
    retried = Outbox(path, cipher)
    retried.add((PATH, body) for body in batches)
    third = broker_for(retried, store.url)
    third.start()
    await delivered(retried)
    assert stored_counts(folder) == expected
    assert retried.dead_letters() == []
    await third.close()


def _waiting_bodies(path: str, cipher: MultiFernet, wanted: str) -> list[dict[str, Any]]:
    """The bodies waiting for `wanted`, read from the file as another process would."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT path, body FROM outbox ORDER BY id").fetchall()
    return [json.loads(cipher.decrypt(body)) for item, body in rows if item == wanted]
