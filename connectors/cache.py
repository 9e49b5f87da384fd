"""A bounded in-memory map whose entries expire."""

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
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def set(self, key: str, value: V, ttl: float | None = None) -> None:
        """Stores `value` for `ttl` seconds (the cache's default when None)."""
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + (self._ttl if ttl is None else ttl), value)
        if len(self._entries) > self._max_entries:
            self._make_room()

    def pop(self, key: str) -> V | None:
        value = self.get(key)
        self._entries.pop(key, None)
        return value

    def _make_room(self) -> None:
        now = self._clock()
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
