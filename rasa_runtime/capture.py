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
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from sanic import Sanic

from rasa_runtime import settings
from rasa_runtime.outbox import Backoff, Forwarder, Outbox, StoreEndpoint
from rasa_runtime.trackers import cipher_from_environment
from rasa_runtime.turns import Capture, Item, TurnWatcher

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "STORE_SERVICE_TOKEN"


def destination(item: Item) -> str:
    """The store's path for an item."""
    if isinstance(item, Capture):
        return "/inbox/items"
    return f"/inbox/items/{item.capture_id}/resolution"


class CaptureBroker(EventBroker):
    """Turns the events of turns the assistant could not answer well into outbox items."""

    def __init__(self, watcher: TurnWatcher, outbox: Outbox, forwarder: Forwarder) -> None:
        self._watcher = watcher
        self._outbox = outbox
        self._forwarder = forwarder

    @classmethod
    async def from_endpoint_config(
        cls,
        broker_config: EndpointConfig,
        event_loop: asyncio.AbstractEventLoop | None = None,
    ) -> CaptureBroker:
        """The server's broker; its forwarder starts on the server's loop."""
        outbox = Outbox(
            settings.capture_outbox_path(Sanic.get_app().state.port), cipher_from_environment()
        )
        broker = cls(TurnWatcher(), outbox, Forwarder(outbox, store_endpoint(), backoff()))
        broker.start()
        return broker

    def start(self) -> None:
        self._forwarder.start()

    def publish(self, event: dict[str, Any]) -> None:
        """Called for every event saved, in order, on the thread that saved it."""
        try:
            items = self._watcher.observe(event)
            if items:
                self._outbox.add((destination(item), item.body()) for item in items)
                self._forwarder.wake()
        except Exception as error:  # capture must never fail a resident's turn
            # The type only: an exception's text may quote the message.
            logger.error("Capture: an event could not be captured (%s)", type(error).__name__)

    async def close(self) -> None:
        """Stops forwarding; the items not delivered are sent by the next start."""
        await self._forwarder.stop()
        self._outbox.close()


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
