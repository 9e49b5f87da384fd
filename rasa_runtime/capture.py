"""Capture for the staff inbox: a Rasa event broker that feeds the status store.

Configured in endpoints*.yml (`event_broker: {type: rasa_runtime.capture.CaptureBroker}`).
The tracker store hands it each turn's events once they are saved
(`rasa_runtime.trackers`); `rasa_runtime.turns` decides which turns are inbox items,
and each item is written to the local outbox (`rasa_runtime.outbox`) before `publish`
returns. The outbox's forwarder delivers the items to the store's
`POST /inbox/items` (and a did-you-mean's resolution after its item) with the store's
service token, retrying while the store is down. So capture costs a turn one local
insert at most, and an item is lost neither while the store is down nor when this
server stops.

The same outbox carries the turn counts of the dashboard (`rasa_runtime.turn_counts`)
and a resident's erasure: when the tracker store erases a conversation it tells the
broker (`conversation_erased`), which drops the conversation's items still waiting and
queues `POST /conversations/erase` behind everything else, so an outage delays the
store's erasure and never loses it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from sanic import Sanic

from rasa_runtime import settings
from rasa_runtime.outbox import Backoff, Forwarder, Outbox, StoreEndpoint
from rasa_runtime.trackers import cipher_from_environment
from rasa_runtime.turn_counts import TurnCounter
from rasa_runtime.turns import Capture, Item, TurnWatcher, is_channel_conversation

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "STORE_SERVICE_TOKEN"
ERASE_PATH = "/conversations/erase"


def destination(item: Item) -> str:
    """The store's path for an item."""
    if isinstance(item, Capture):
        return "/inbox/items"
    return f"/inbox/items/{item.capture_id}/resolution"


class CaptureBroker(EventBroker):
    """Turns the events of turns the assistant could not answer well into outbox items,
    counts every turn, and passes erasures on."""

    def __init__(
        self,
        outbox: Outbox,
        forwarder: Forwarder,
        flush_seconds: float = settings.TURN_COUNTS_FLUSH_SECONDS,
        model_name: Callable[[str | None], str | None] = lambda model_id: model_id,
    ) -> None:
        self._outbox = outbox
        self._forwarder = forwarder
        self._counter = TurnCounter(outbox, flush_seconds, forwarder.wake)
        self._watcher = TurnWatcher(on_turn=self._counter.count, model_name=model_name)

    @classmethod
    async def from_endpoint_config(
        cls,
        broker_config: EndpointConfig,
        event_loop: asyncio.AbstractEventLoop | None = None,
    ) -> CaptureBroker:
        """The server's broker; its forwarder starts on the server's loop."""
        app = Sanic.get_app()
        outbox = Outbox(settings.capture_outbox_path(app.state.port), cipher_from_environment())
        forwarder = Forwarder(outbox, store_endpoint(), backoff())
        broker = cls(outbox, forwarder, model_name=functools.partial(model_file_name, app))
        broker.start()
        return broker

    def start(self) -> None:
        self._forwarder.start()
        self._counter.start()

    def publish(self, event: dict[str, Any]) -> None:
        """Called for every event saved, in order, on the thread that saved it."""
        try:
            items = self._watcher.observe(event)
            if items:
                conversation = str(event.get("sender_id"))
                self._outbox.add(((destination(item), item.body()) for item in items), conversation)
                self._forwarder.wake()
        except Exception as error:  # capture must never fail a resident's turn
            # The type only: an exception's text may quote the message.
            logger.error("Capture: an event could not be captured (%s)", type(error).__name__)

    def conversation_erased(self, conversation_id: str) -> None:
        """The resident's conversation was erased here: the store erases its part, after
        anything of it still waiting is dropped (called on the thread that erased)."""
        self._watcher.forget(conversation_id)
        if not is_channel_conversation(conversation_id):
            return  # the store keeps nothing of conversations no channel named
        try:
            dropped = self._outbox.erase(
                conversation_id, ERASE_PATH, {"conversation_id": conversation_id}
            )
        except Exception as error:  # the resident's own conversation is gone already
            logger.error(
                "Capture: an erasure could NOT be queued for the store (%s)", type(error).__name__
            )
            return
        self._forwarder.wake()
        logger.info("Capture: an erasure queued for the store (%d items dropped)", dropped)

    def flush_counts(self) -> int:
        """Seals the turns counted so far into batches now; returns how many."""
        return self._counter.flush()

    async def close(self) -> None:
        """Stops forwarding; the items not delivered (the last counts among them) are
        sent by the next start."""
        await self._counter.stop()
        await self._forwarder.stop()
        self._outbox.close()


def model_file_name(app: Sanic, model_id: str | None) -> str | None:
    """The file of the server's model (`model-<hash of its inputs>.tar.gz`, as in
    bot/models) when it is the one that read the message, else Rasa's id for it."""
    processor = getattr(getattr(app.ctx, "agent", None), "processor", None)
    if processor is not None and processor.model_metadata.model_id == model_id:
        return str(processor.model_filename)
    return model_id


def store_endpoint() -> StoreEndpoint:
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise ValueError(
            f"{TOKEN_VARIABLE} is not set: the Rasa server sends captured turns to the "
            "status store with it (make run generates it into var/secrets.env)."
        )
    return StoreEndpoint(settings.STORE_URL, token, settings.CAPTURE_TIMEOUT_SECONDS)


def backoff() -> Backoff:
    return Backoff(settings.CAPTURE_RETRY_FIRST_SECONDS, settings.CAPTURE_RETRY_MAX_SECONDS)
