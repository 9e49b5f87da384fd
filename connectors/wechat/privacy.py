"""Deleting a resident's conversations when they unfollow, as the platform requires."""

from __future__ import annotations

import logging

from rasa.core.agent import Agent
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore, TrackerStore

from rasa_runtime.trackers import EncryptedSQLTrackerStore

logger = logging.getLogger(__name__)


def _concrete_stores(store: TrackerStore) -> list[TrackerStore]:
    """The stores behind Rasa's wrappers (FailSafeTrackerStore, AwaitableTrackerStore).

    FailSafeTrackerStore may also hold conversations in its in-memory fallback, written
    while the primary store was failing.
    """
    stores: list[TrackerStore] = []
    pending = [store]
    while pending:
        current = pending.pop()
        inner = getattr(current, "_tracker_store", None)
        if inner is None:
            stores.append(current)
            continue
        pending.append(inner)
        fallback = getattr(current, "_fallback_tracker_store", None)
        if fallback is not None:
            pending.append(fallback)
    return stores


def _delete(store: TrackerStore, sender_id: str) -> int:
    if isinstance(store, EncryptedSQLTrackerStore):
        # Its erasure reaches the status store too (rasa_runtime/capture.py).
        return store.erase_conversation(sender_id)
    if isinstance(store, SQLTrackerStore):
        with store.session_scope() as session:
            deleted = (
                session.query(store.SQLEvent)
                .filter(store.SQLEvent.sender_id == sender_id)
                .delete(synchronize_session=False)
            )
            session.commit()
            return int(deleted)
    if isinstance(store, InMemoryTrackerStore):
        return 1 if store.store.pop(sender_id, None) is not None else 0
    raise NotImplementedError(f"deleting conversations from {type(store).__name__}")


async def forget_resident(agent: Agent, conversation: str) -> int:
    """Deletes every stored event of the resident's conversation (`wechat:<OpenID>`);
    returns how many rows/trackers went.

    Holding the conversation lock makes a message still being processed finish (and
    save) first, so nothing is written back after the deletion.
    """
    async with agent.lock_store.lock(conversation):
        return sum(_delete(store, conversation) for store in _concrete_stores(agent.tracker_store))
