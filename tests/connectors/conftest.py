"""Channel state backends shared by the connector tests: in memory, and a real Redis;
the assistant with the WeChat channel, in safe and in plaintext mode, started once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from wechat_harness import WeChatStack, wechat_stack

from connectors.state import ChannelState, MemoryState, RedisState

REDIS_URL = "redis://127.0.0.1:6379/0"


async def delete_keys(pattern: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(pattern)]
    if keys:
        await client.delete(*keys)
    await client.close()


@pytest.fixture
async def redis_state() -> AsyncIterator[RedisState]:
    """A state under a prefix of its own; its keys are removed afterwards."""
    prefix = f"connectors-test-{uuid.uuid4().hex}:"
    state = RedisState(REDIS_URL, prefix)
    yield state
    await state.close()
    await delete_keys(f"{prefix}*")


@pytest.fixture
def channels_in_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels built now keep their options in Redis, as replicas do."""
    monkeypatch.setenv("CHANNELS_REDIS_URL", REDIS_URL)


@pytest.fixture(params=["memory", "redis"])
def state(request: pytest.FixtureRequest) -> ChannelState:
    if request.param == "memory":
        return MemoryState(100)
    return request.getfixturevalue("redis_state")


@pytest.fixture(scope="session")
def wechat_safe_mode(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WeChatStack]:
    with wechat_stack(tmp_path_factory.mktemp("wechat-aes"), model_path, aes=True) as running:
        yield running


@pytest.fixture(scope="session")
def wechat_plaintext(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WeChatStack]:
    with wechat_stack(tmp_path_factory.mktemp("wechat-plain"), model_path, aes=False) as running:
        yield running
