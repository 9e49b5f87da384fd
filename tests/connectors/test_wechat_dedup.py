"""What makes two pushes the same message: the platform's retries are processed once,
different residents' messages never are taken for one another, and a replay is
either stale or recognised for as long as its timestamp is accepted.

The clock is the channel's: moving it stands for minutes passing.
"""

from __future__ import annotations

import time

from wechat_harness import (
    CONVERSATION,
    OPENID,
    RecordingRasa,
    StubAgent,
    make_channel,
    platform,
    serve_channel,
)

from connectors.state import MemoryState
from connectors.wechat.settings import Timing

OTHER_OPENID = "oDaAnResident0000000000000002"


class Clock:
    """Wall-clock time that a test moves forward."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_messages_are_remembered_across_the_whole_window() -> None:
    # Accepted from 300 s before its timestamp to 300 s after: 600 s, plus the deadline.
    assert Timing().dedup_ttl == 604.5
    assert Timing(freshness=10.0, deadline=1.0).dedup_ttl == 21.0


async def test_a_replay_is_stale_or_a_duplicate_however_late_it_comes() -> None:
    clock = Clock()
    rasa = RecordingRasa()
    wechat = platform()
    # Stamped 295 s ahead (a sender's clock may run fast), replayed 309 s later: the
    # stamp is 14 s old by then, well inside the window.
    request = wechat.text(OPENID, "低保咋个申请", 5001, timestamp=int(clock.now) + 295)
    channel = make_channel(state=MemoryState(100, clock), clock=clock)
    async with serve_channel(channel, StubAgent(rasa)) as webhook:
        first = await webhook.post(*request)
        clock.now += 309
        replayed = await webhook.post(*request)
        clock.now += 300  # 609 s after it was first seen, the stamp is 314 s old
        stale = await webhook.post(*request)
    assert first[0] == 200
    assert replayed == (200, "success")
    assert stale[0] == 403
    assert [call.text for call in rasa.calls] == ["低保咋个申请"]


async def test_two_residents_may_use_the_same_msgid() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        _, mine = await webhook.post(*wechat.text(OPENID, "低保咋个申请", 7777))
        _, theirs = await webhook.post(*wechat.text(OTHER_OPENID, "老年证咋个办", 7777))
    assert wechat.read_reply(mine)["Content"] == "收到：低保咋个申请"
    assert wechat.read_reply(theirs)["Content"] == "收到：老年证咋个办"
    assert wechat.read_reply(theirs)["ToUserName"] == OTHER_OPENID
    assert [(call.sender_id, call.text) for call in rasa.calls] == [
        (CONVERSATION, "低保咋个申请"),
        (f"wechat:{OTHER_OPENID}", "老年证咋个办"),
    ]


async def test_events_are_told_apart_by_sender_time_event_and_key() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    second = int(time.time())
    guide = wechat.event(OPENID, "CLICK", second, key="低保咋个申请")
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        await webhook.post(*guide)
        await webhook.post(*guide)  # the platform's retry
        # Another item clicked within the same second is another question.
        await webhook.post(*wechat.event(OPENID, "CLICK", second, key="查进度"))
        # Another resident clicking the same item in the same second, too.
        await webhook.post(*wechat.event(OTHER_OPENID, "CLICK", second, key="低保咋个申请"))
        follow = wechat.event(OTHER_OPENID, "subscribe", second)
        await webhook.post(*follow)
        await webhook.post(*follow)
    assert [(call.sender_id, call.text) for call in rasa.calls] == [
        (CONVERSATION, "低保咋个申请"),
        (CONVERSATION, "查进度"),
        (f"wechat:{OTHER_OPENID}", "低保咋个申请"),
        (f"wechat:{OTHER_OPENID}", "关注公众号"),
    ]
