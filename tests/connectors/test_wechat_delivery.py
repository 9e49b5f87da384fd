"""The 5-second rule and late delivery, against a local fake of the WeChat API.

Rasa is a stand-in here, held until the test lets it answer: that is what shows a
response went back before the answer existed, without measuring any time.
"""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp
import pytest
from wechat_harness import (
    APP_ID,
    APP_SECRET,
    CONVERSATION,
    OPENID,
    RecordingRasa,
    StubAgent,
    Webhook,
    caught_up,
    eventually,
    fake_wechat_api,
    make_channel,
    platform,
    serve_channel,
)

from connectors.state import MemoryState
from connectors.wechat.api_client import AccessTokenHolder, WeChatApi, WeChatClient
from connectors.wechat.replies import load_replies
from connectors.wechat.settings import Timing

# Only ends a test that would otherwise hang; no assertion depends on it.
HANG = 30

REPLIES = load_replies()


async def test_slow_answer_arrives_through_customer_service_api() -> None:
    rasa = RecordingRasa(gate=threading.Event())
    wechat = platform()
    async with fake_wechat_api() as (api, base):
        channel = make_channel(api_base=base)
        async with serve_channel(channel, StubAgent(rasa)) as webhook:
            request = webhook.post(*wechat.text(OPENID, "危房改造咋个申请", 7001))
            # Answered while Rasa is still held: the deadline, not the answer, ended it.
            assert await asyncio.wait_for(request, HANG) == (200, "success")
            assert rasa.finished == []
            rasa.gate.set()
            # Rasa was not cancelled at the deadline: its answer arrives afterwards.
            assert await api.next_message(OPENID) == "收到：危房改造咋个申请"
    [sent] = api.sent
    assert sent == {
        "access_token": "ACCESS_1",
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "收到：危房改造咋个申请"},
    }
    assert len(rasa.calls) == 1


async def test_without_customer_service_a_retry_or_the_next_message_gets_the_answer() -> None:
    rasa = RecordingRasa(gate=threading.Event())
    state = MemoryState(100)
    wechat = platform()
    question = wechat.text(OPENID, "养老保险咋个交", 7002)
    async with serve_channel(make_channel(state=state), StubAgent(rasa)) as webhook:
        _, first = await webhook.post(*question)
        # A retry of the same MsgId, while Rasa still works on it, waits for its answer.
        retrying = asyncio.ensure_future(webhook.post(*question))
        await caught_up(webhook)
        rasa.gate.set()
        _, retry = await retrying
        rasa.gate.clear()
        _, slow = await webhook.post(*wechat.text(OPENID, "危房改造咋个申请", 7003))
        rasa.gate.set()

        async def kept() -> bool:
            return await state.length(f"pending:{CONVERSATION}") > 0

        await eventually(kept)
        _, pickup = await webhook.post(*wechat.text(OPENID, "查看", 7004))
    assert wechat.read_reply(first)["Content"] == REPLIES.wait
    assert wechat.read_reply(retry)["Content"] == "收到：养老保险咋个交"
    assert wechat.read_reply(slow)["Content"] == REPLIES.wait
    assert wechat.read_reply(pickup)["Content"] == "收到：危房改造咋个申请"
    assert [call.text for call in rasa.calls] == ["养老保险咋个交", "危房改造咋个申请"]


async def test_refused_push_is_kept_for_the_next_message() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    async with fake_wechat_api() as (api, base):
        channel = make_channel(api_base=base)
        api.reject_next_with = 45015  # the 48-hour window has passed
        output = channel.get_output_channel()
        assert output is not None
        await output.send_response(CONVERSATION, {"text": "您的低保申请已受理。"})
        async with serve_channel(channel, StubAgent(rasa)) as webhook:
            _, body = await webhook.post(*wechat.text(OPENID, "你好", 7004))
    assert wechat.read_reply(body)["Content"] == "您的低保申请已受理。\n\n收到：你好"


async def test_output_channel_pushes_numbered_options_to_the_openid() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    async with fake_wechat_api() as (api, base):
        channel = make_channel(api_base=base)
        output = channel.get_output_channel()
        assert output is not None
        await output.send_response(
            CONVERSATION,
            {
                "text": "工作人员回复了您，满意吗？",
                "buttons": [{"title": "满意", "payload": "满意"}],
            },
        )
        # Another channel's conversation has no OpenID: nothing is sent for it.
        await output.send_response("rest:oDaAnResident0000000000000001", {"text": "冒充"})
        async with serve_channel(channel, StubAgent(rasa)) as webhook:
            await webhook.post(*wechat.text(OPENID, "1", 7005))
    [sent] = api.sent
    assert sent["touser"] == OPENID
    assert "1. 满意" in sent["text"]["content"]
    assert [(call.sender_id, call.text) for call in rasa.calls] == [(CONVERSATION, "满意")]


async def test_one_token_shared_and_refreshed() -> None:
    async with fake_wechat_api() as (api, base):
        client = WeChatClient(base, APP_ID, APP_SECRET, MemoryState(100), Timing())
        await asyncio.gather(*(client.send_text(OPENID, f"第{i}条") for i in range(10)))
        assert api.token_requests == 1

        api.reject_next_with = 40001  # the token was replaced elsewhere
        await client.send_text(OPENID, "再来一条")
        assert api.token_requests == 2
        assert api.sent[-1]["access_token"] == "ACCESS_2"
        await client.close()

        now = [0.0]
        holder = AccessTokenHolder(
            WeChatApi(base, 5), APP_ID, APP_SECRET, MemoryState(100), Timing(), lambda: now[0]
        )
        assert await holder.get() == "ACCESS_3"
        now[0] = 7200 - 301
        assert await holder.get() == "ACCESS_3"
        now[0] = 7200 - 299  # inside the margin: refreshed before it expires
        assert await holder.get() == "ACCESS_4"


async def test_fifty_residents_at_once_each_get_their_own_answer() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    residents = [f"oResident{i:020d}" for i in range(50)]
    async with serve_channel(make_channel(timing=Timing()), StubAgent(rasa)) as webhook:
        results = await asyncio.gather(
            *(
                webhook.post(*wechat.text(openid, f"问题{i}", 60_000 + i))
                for i, openid in enumerate(residents)
            )
        )
    replies = [wechat.read_reply(body) for _, body in results]
    assert [(r["ToUserName"], r["Content"]) for r in replies] == [
        (openid, f"收到：问题{i}") for i, openid in enumerate(residents)
    ]


async def test_deadline_holds_while_rasa_keeps_the_event_loop_busy() -> None:
    # Each message computes for 0.3 s, as NLU and policies do: 16 at once are 4.8 s of
    # work, which on the server's own loop would delay reading the requests and every
    # deadline (1 s) behind it until the work was done.
    rasa = RecordingRasa(busy=0.3)
    wechat = platform()
    residents = [f"oBusyResident{i:016d}" for i in range(16)]

    async def post(webhook: Webhook, i: int) -> tuple[float, dict[str, str] | None]:
        _, body = await webhook.post(*wechat.text(residents[i], f"问题{i}", 80_000 + i))
        return time.monotonic(), wechat.read_reply(body)

    async with fake_wechat_api() as (api, base):
        channel = make_channel(api_base=base)
        async with serve_channel(channel, StubAgent(rasa)) as webhook:
            results = await asyncio.gather(*(post(webhook, i) for i in range(16)))
            answers = {r["ToUserName"]: r["Content"] for _, r in results if r}
            late = set(residents) - set(answers)
            # The answers that missed the deadline come through the customer-service API.
            for openid in late:
                answers[openid] = await api.next_message(openid)
    # Every response went back while Rasa was still working, some without the answer.
    assert max(responded for responded, _ in results) < max(rasa.finished)
    assert late
    assert answers == {openid: f"收到：问题{i}" for i, openid in enumerate(residents)}
    assert len(rasa.calls) == 16


async def test_answer_survives_the_platform_hanging_up() -> None:
    rasa = RecordingRasa(gate=threading.Event())
    wechat = platform()
    query, body = wechat.text(OPENID, "老年证在哪儿办", 7006)
    async with fake_wechat_api() as (api, base):
        channel = make_channel(api_base=base)
        async with serve_channel(channel, StubAgent(rasa)) as webhook:
            # The client gives up before the deadline, as the platform does after 5 s.
            with pytest.raises(asyncio.TimeoutError):
                timeout = aiohttp.ClientTimeout(total=0.2)
                await webhook.http.post(webhook.url, params=query, data=body, timeout=timeout)
            await caught_up(webhook)  # the server has seen the hang-up
            rasa.gate.set()
            assert await api.next_message(OPENID) == "收到：老年证在哪儿办"
    assert api.sent[0]["touser"] == OPENID
