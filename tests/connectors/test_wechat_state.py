"""The channel state in memory and in a real Redis, and two channel processes sharing it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from wechat_harness import (
    APP_ID,
    APP_SECRET,
    CONVERSATION,
    OPENID,
    RecordingRasa,
    StubAgent,
    Webhook,
    eventually,
    fake_wechat_api,
    make_channel,
    platform,
    serve_channel,
)

from connectors.state import ChannelState, MemoryState, RedisState
from connectors.wechat.api_client import WeChatClient
from connectors.wechat.replies import load_replies
from connectors.wechat.settings import Timing

REPLIES = load_replies()


async def test_the_first_value_wins_and_is_what_everyone_sees(state: ChannelState) -> None:
    assert await state.setdefault("msg:1", "process-a", 60) == "process-a"
    assert await state.setdefault("msg:1", "process-b", 60) == "process-a"
    claims = await asyncio.gather(*(state.setdefault("claim", f"c{i}", 60) for i in range(20)))
    assert len(set(claims)) == 1


async def test_values_and_lists_round_trip(state: ChannelState) -> None:
    await state.put("options:o1", '["好", "不好"]', 60)
    assert await state.get("options:o1") == '["好", "不好"]'
    await state.delete("options:o1", "never-set")
    assert await state.get("options:o1") is None

    for text in ("第一条", "第二条"):
        await state.append("pending:o1", text, 60)
    assert await state.length("pending:o1") == 2
    assert await state.take("pending:o1") == ["第一条", "第二条"]
    assert await state.take("pending:o1") == []
    assert await state.length("pending:o1") == 0


async def test_entries_expire(state: ChannelState) -> None:
    await state.put("short", "x", 0.2)
    await state.append("short-list", "x", 0.2)
    await state.setdefault("short-claim", "x", 0.2)
    await state.put("long", "x", 60)

    async def expired() -> bool:
        return await state.get("short") is None

    await eventually(expired)
    assert await state.length("short-list") == 0
    assert await state.setdefault("short-claim", "y", 60) == "y"
    assert await state.get("long") == "x"


async def test_memory_entries_live_exactly_their_time() -> None:
    now = [1000.0]
    state = MemoryState(10, clock=lambda: now[0])
    await state.put("k", "v", 60)
    now[0] += 59.9
    assert await state.get("k") == "v"
    now[0] += 0.1
    assert await state.get("k") is None


async def test_memory_state_stays_bounded() -> None:
    state = MemoryState(max_entries=10)
    for i in range(50):
        await state.put(f"k{i}", "v", 60)
    assert await state.get("k49") == "v"
    assert await state.get("k0") is None


# --- two Rasa processes behind one Official Account ---------------------------------


@asynccontextmanager
async def two_processes(
    state: RedisState, rasa: RecordingRasa
) -> AsyncIterator[tuple[Webhook, Webhook]]:
    """Two channels sharing one state, as two Rasa replicas do; one conversation store
    behind both, hence one recording stand-in for Rasa."""
    async with (
        serve_channel(make_channel(state=state), StubAgent(rasa)) as first,
        serve_channel(make_channel(state=state), StubAgent(rasa)) as second,
    ):
        yield first, second


def echo_with_options(message: Any) -> list[dict[str, Any]]:
    if message.text == "评价":
        buttons = [{"title": "满意", "payload": "满意"}, {"title": "不满意", "payload": "不满意"}]
        return [{"text": "您对这次服务满意吗？", "buttons": buttons}]
    return [{"text": f"收到：{message.text}"}]


async def test_a_message_arriving_at_two_processes_is_processed_once(
    redis_state: RedisState,
) -> None:
    rasa = RecordingRasa()
    wechat = platform()
    message = wechat.text(OPENID, "低保咋个申请", 91_001)
    async with two_processes(redis_state, rasa) as (first, second):
        results = await asyncio.gather(first.post(*message), second.post(*message))
    replies = [wechat.read_reply(body) for _, body in results]
    contents = sorted((reply or {}).get("Content", "") for reply in replies)
    assert len(rasa.calls) == 1
    # Exactly one of the two requests carries the answer; the other says nothing.
    assert contents == ["", "收到：低保咋个申请"]


async def test_a_retry_at_another_process_gets_the_late_answer(redis_state: RedisState) -> None:
    rasa = RecordingRasa(gate=threading.Event())
    wechat = platform()
    message = wechat.text(OPENID, "临时救助找哪个", 91_002)
    async with two_processes(redis_state, rasa) as (first, second):
        _, body = await first.post(*message)
        # The first process missed its deadline (1 s), as the platform's retry shows.
        assert wechat.read_reply(body)["Content"] == REPLIES.wait
        retrying = asyncio.ensure_future(second.post(*message))

        async def retry_waits() -> bool:
            return await redis_state.get(f"waiting:msg:{OPENID}:91002") is not None

        await eventually(retry_waits)
        rasa.gate.set()
        _, body = await retrying
        assert wechat.read_reply(body)["Content"] == "收到：临时救助找哪个"
    # Both servers stopped only after delivering what they had: the first process
    # did not deliver the answer a second time.
    assert await redis_state.length(f"pending:{CONVERSATION}") == 0
    assert len(rasa.calls) == 1


async def test_a_digit_answers_options_offered_by_another_process(
    redis_state: RedisState,
) -> None:
    rasa = RecordingRasa(answer=echo_with_options)
    wechat = platform()
    async with two_processes(redis_state, rasa) as (first, second):
        _, body = await first.post(*wechat.text(OPENID, "评价", 91_003))
        assert "2. 不满意" in wechat.read_reply(body)["Content"]
        await second.post(*wechat.text(OPENID, "2", 91_004))
    assert [call.text for call in rasa.calls] == ["评价", "不满意"]


async def test_processes_share_one_access_token(redis_state: RedisState) -> None:
    async with fake_wechat_api() as (api, base):
        clients = [WeChatClient(base, APP_ID, APP_SECRET, redis_state, Timing()) for _ in range(2)]
        await asyncio.gather(
            *(clients[i % 2].send_text(OPENID, f"第{i}条") for i in range(10)),
        )
        for client in clients:
            await client.close()
    assert api.token_requests == 1
    assert {sent["access_token"] for sent in api.sent} == {"ACCESS_1"}
    assert len(api.sent) == 10
