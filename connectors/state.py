"""What a channel keeps beyond one request, in memory or in Redis.

One Rasa process (the embedded default) keeps it in memory. Several workers or
replicas (production profile) must all see the same, or a message landing on another
process would miss what the previous one left (a WeChat retry, the options a digit
answers): there it lives in Redis.

Values are strings; lists are appended to and taken whole.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import redis.asyncio as redis

from connectors.cache import TTLCache


class ChannelState(ABC):
    @abstractmethod
    async def setdefault(self, name: str, value: str, ttl: float) -> str:
        """Stores `value` unless `name` holds one; returns what `name` holds now.

        The first caller to see its own value back has won a claim.
        """

    @abstractmethod
    async def get(self, name: str) -> str | None: ...

    @abstractmethod
    async def put(self, name: str, value: str, ttl: float) -> None: ...

    @abstractmethod
    async def delete(self, *names: str) -> None: ...

    @abstractmethod
    async def append(self, name: str, value: str, ttl: float) -> None:
        """Adds `value` to the list `name`, which then lives `ttl` seconds."""

    @abstractmethod
    async def take(self, name: str) -> list[str]:
        """Removes and returns the whole list `name` in one step."""

    @abstractmethod
    async def length(self, name: str) -> int: ...

    async def close(self) -> None:
        return None


class MemoryState(ChannelState):
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: TTLCache[str | list[str]] = TTLCache(0.0, max_entries, clock)

    async def setdefault(self, name: str, value: str, ttl: float) -> str:
        current = self._entries.get(name)
        if isinstance(current, str):
            return current
        self._entries.set(name, value, ttl)
        return value

    async def get(self, name: str) -> str | None:
        value = self._entries.get(name)
        return value if isinstance(value, str) else None

    async def put(self, name: str, value: str, ttl: float) -> None:
        self._entries.set(name, value, ttl)

    async def delete(self, *names: str) -> None:
        for name in names:
            self._entries.pop(name)

    async def append(self, name: str, value: str, ttl: float) -> None:
        current = self._entries.get(name)
        self._entries.set(name, [*(current if isinstance(current, list) else []), value], ttl)

    async def take(self, name: str) -> list[str]:
        value = self._entries.pop(name)
        return value if isinstance(value, list) else []

    async def length(self, name: str) -> int:
        value = self._entries.get(name)
        return len(value) if isinstance(value, list) else 0


class RedisState(ChannelState):
    """Keys are prefixed, so several accounts (or test runs) can share one Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        # The client connects lazily, on the loop of the server that first uses it.
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def _key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    async def setdefault(self, name: str, value: str, ttl: float) -> str:
        key = self._key(name)
        while True:
            if await self._redis.set(key, value, nx=True, px=_ms(ttl)):
                return value
            current = await self._redis.get(key)
            if current is not None:  # else it expired in between: try again
                return current

    async def get(self, name: str) -> str | None:
        return await self._redis.get(self._key(name))

    async def put(self, name: str, value: str, ttl: float) -> None:
        await self._redis.set(self._key(name), value, px=_ms(ttl))

    async def delete(self, *names: str) -> None:
        await self._redis.delete(*(self._key(name) for name in names))

    async def append(self, name: str, value: str, ttl: float) -> None:
        key = self._key(name)
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(key, value).pexpire(key, _ms(ttl)).execute()

    async def take(self, name: str) -> list[str]:
        key = self._key(name)
        async with self._redis.pipeline(transaction=True) as pipe:
            values, _ = await pipe.lrange(key, 0, -1).delete(key).execute()
        return list(values)

    async def length(self, name: str) -> int:
        return int(await self._redis.llen(self._key(name)))

    async def close(self) -> None:
        await self._redis.close()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
