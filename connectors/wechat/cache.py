"""A bounded in-memory map whose entries expire.

The channel's short-lived state (seen MsgIds, numbered options, undelivered answers)
lives here, so it is per process: several Rasa replicas behind a proxy would need a
shared store (Redis) for it, or sticky routing by OpenID.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(
        self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | None:
        self._expire()
        entry = self._entries.get(key)
        return entry[1] if entry else None

    def set(self, key: str, value: V) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self._ttl, value)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: str) -> V | None:
        self._expire()
        entry = self._entries.pop(key, None)
        return entry[1] if entry else None

    def _expire(self) -> None:
        # Insertion order is expiry order, since every set() moves the key to the end.
        now = self._clock()
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if expires > now:
                break
            del self._entries[key]
