"""What the capture tests share: the store's service token, quick retries, and waiting
until a forwarder has emptied its outbox (the fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import secrets

from rasa_runtime.outbox import Backoff, Outbox

TOKEN = secrets.token_urlsafe(24)
QUICK_RETRIES = Backoff(first_seconds=0.05, max_seconds=0.5)
DELIVERY_LIMIT_SECONDS = 60


async def delivered(outbox: Outbox) -> None:
    """Waits until the forwarder has emptied the outbox."""
    for _ in range(DELIVERY_LIMIT_SECONDS * 20):
        if outbox.waiting() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{outbox.waiting()} items still waiting")
