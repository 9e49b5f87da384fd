"""Deletes conversations kept longer than `CONVERSATION_RETENTION_DAYS`.

Runs inside every Rasa server (`run_daily`, started by the launcher: once at start,
then every day; replicas doing it too is harmless) and as a command for a scheduler:

    python -m rasa_runtime.retention --endpoints endpoints.yml
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from rasa.core.tracker_store import TrackerStore

from rasa_runtime.settings import CONVERSATION_RETENTION_DAYS, RETENTION_INTERVAL_SECONDS
from rasa_runtime.trackers import (
    EncryptedSQLTrackerStore,
    encrypted_store_of,
    store_from_endpoints,
)

logger = logging.getLogger(__name__)

DAY_SECONDS = 24 * 60 * 60


def delete_expired(
    store: EncryptedSQLTrackerStore, days: float = CONVERSATION_RETENTION_DAYS
) -> int:
    """Deletes the conversations idle for more than `days`; returns how many."""
    deleted = store.delete_idle_conversations(time.time() - days * DAY_SECONDS)
    logger.info("Retention: %d conversations idle for over %g days deleted", deleted, days)
    return deleted


async def run_daily(tracker_store: TrackerStore) -> None:
    """The server's scheduled job; ends with the server (its task is cancelled)."""
    store = encrypted_store_of(tracker_store)
    while True:
        try:
            await asyncio.to_thread(delete_expired, store)
        except Exception:
            # Tomorrow's run tries again; the server keeps serving meanwhile.
            logger.exception("Retention run failed")
        await asyncio.sleep(RETENTION_INTERVAL_SECONDS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rasa_runtime.retention")
    parser.add_argument("--endpoints", default="endpoints.yml")
    parser.add_argument("--days", type=float, default=CONVERSATION_RETENTION_DAYS)
    args = parser.parse_args(argv)
    deleted = delete_expired(store_from_endpoints(args.endpoints), args.days)
    print(f"{deleted} conversations deleted")


if __name__ == "__main__":
    main()
