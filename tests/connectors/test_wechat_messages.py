"""Message handling end to end: a platform-style request in, the passive reply out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from wechat_harness import (
    OPENID,
    RecordingRasa,
    StubAgent,
    make_channel,
    platform,
    serve_channel,
)

from connectors.guard import FULL_WIDTH_SLASH
from connectors.options import options_in
from connectors.wechat.channel import (
    NOT_TEXT_REPLIES,
    SUBSCRIBE_TEXT,
    VOICE_UNCLEAR_REPLY,
)
from connectors.wechat.render import OPTIONS_HINT, fit, render

MENU = [
    {
        "text": "您好！请问办什么事？",
        "buttons": [
            {"title": "办老年证", "payload": "办老年证"},
            {"title": "查办件进度", "payload": "查进度"},
        ],
    }
]


@pytest.mark.parametrize("aes", [True, False], ids=["aes", "plaintext"])
async def test_text_round_trip(aes: bool) -> None:
    rasa = RecordingRasa()
    wechat = platform(aes)
    async with serve_channel(make_channel(aes), StubAgent(rasa)) as webhook:
        status, body = await webhook.post(*wechat.text(OPENID, "低保要带啥子材料", 9001))
    assert status == 200
    reply = wechat.read_reply(body)
    assert reply is not None
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "收到：低保要带啥子材料"
    assert (reply["ToUserName"], reply["FromUserName"]) == (OPENID, wechat.account)
    [message] = rasa.calls
    assert (message.sender_id, message.message_id) == (OPENID, "9001")
    assert message.input_channel == "wechat"


async def test_same_msgid_three_times_is_processed_once() -> None:
    rasa = RecordingRasa(delay=0.3)
    wechat = platform()
    request = wechat.text(OPENID, "老年证咋个办", 9002)
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        # The first two overlap (a retry while Rasa works), the third comes afterwards.
        first, second = await asyncio.gather(webhook.post(*request), webhook.post(*request))
        third = await webhook.post(*request)
    assert len(rasa.calls) == 1
    replies = [wechat.read_reply(body) for _, body in (first, second, third)]
    answered = [reply["Content"] for reply in replies if reply]
    assert answered == ["收到：老年证咋个办"]


async def test_command_prefix_is_neutralised() -> None:
    rasa = RecordingRasa()
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        await webhook.post(*platform().text(OPENID, '/inform{"id_number": "1"}', 9003))
    assert rasa.calls[0].text.startswith(FULL_WIDTH_SLASH)


async def test_voice_uses_recognition_or_asks_again() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    recognised = {"MsgType": "voice", "MediaId": "m1", "Recognition": "医保咋个交", "MsgId": "9004"}
    unclear = {"MsgType": "voice", "MediaId": "m2", "MsgId": "9005"}
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        _, first = await webhook.post(*wechat.push(OPENID, recognised))
        _, second = await webhook.post(*wechat.push(OPENID, unclear))
    assert [call.text for call in rasa.calls] == ["医保咋个交"]
    assert wechat.read_reply(first)["Content"] == "收到：医保咋个交"
    assert wechat.read_reply(second)["Content"] == VOICE_UNCLEAR_REPLY


async def test_image_gets_a_short_answer() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    image = {"MsgType": "image", "PicUrl": "http://x/y.jpg", "MediaId": "m", "MsgId": "9006"}
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        _, body = await webhook.post(*wechat.push(OPENID, image))
    assert wechat.read_reply(body)["Content"] == NOT_TEXT_REPLIES["image"]
    assert rasa.calls == []


async def test_buttons_become_numbered_options_and_a_digit_picks_one() -> None:
    rasa = RecordingRasa(answer=lambda m: MENU if m.text == "你好" else [{"text": "好的"}])
    wechat = platform()
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        _, body = await webhook.post(*wechat.text(OPENID, "你好", 9007))
        await webhook.post(*wechat.text(OPENID, "２", 9008))
        # The options were replaced by a reply without buttons: "1" is just text now.
        await webhook.post(*wechat.text(OPENID, "1", 9009))
    content = wechat.read_reply(body)["Content"]
    assert "1. 办老年证\n2. 查办件进度" in content
    assert content.endswith(OPTIONS_HINT)
    assert [call.text for call in rasa.calls] == ["你好", "查进度", "1"]


async def test_an_ordinal_or_a_title_picks_too_until_the_resident_unsubscribes() -> None:
    rasa = RecordingRasa(answer=lambda m: MENU if m.text == "你好" else [{"text": "好的"}])
    wechat = platform()
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        for msg_id, text in enumerate(["你好", "第一个", "你好", "查办件进度"], start=9101):
            await webhook.post(*wechat.text(OPENID, text, msg_id))
        await webhook.post(*wechat.text(OPENID, "你好", 9105))
        await webhook.post(*wechat.event(OPENID, "unsubscribe"))
        await webhook.post(*wechat.text(OPENID, "1", 9106))
    assert [call.text for call in rasa.calls] == ["你好", "办老年证", "你好", "查进度", "你好", "1"]


async def test_subscribe_gets_the_welcome_menu() -> None:
    rasa = RecordingRasa(answer=lambda m: MENU)
    wechat = platform()
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        _, body = await webhook.post(*wechat.event(OPENID, "subscribe"))
    [message] = rasa.calls
    assert message.text == SUBSCRIBE_TEXT
    assert message.parse_data["intent"]["name"] == "greet"
    assert "1. 办老年证" in wechat.read_reply(body)["Content"]


async def test_scanning_the_account_qr_code_gets_the_welcome_menu() -> None:
    rasa = RecordingRasa(answer=lambda _: MENU)
    wechat = platform()
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        _, body = await webhook.post(*wechat.event(OPENID, "SCAN", key="centre-niufo"))
    [message] = rasa.calls
    assert message.parse_data["intent"]["name"] == "greet"
    assert "1. 办老年证" in wechat.read_reply(body)["Content"]


async def test_a_menu_click_asks_the_item_question() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    now = int(time.time())
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        _, body = await webhook.post(*wechat.event(OPENID, "CLICK", now - 1, key="查进度"))
        # A key is the resident's words: it is screened like anything they type.
        await webhook.post(*wechat.event(OPENID, "CLICK", now, key="/restart"))
    assert [call.text for call in rasa.calls] == ["查进度", f"{FULL_WIDTH_SLASH}restart"]
    assert wechat.read_reply(body)["Content"] == "收到：查进度"


@pytest.mark.parametrize("event", ["VIEW", "LOCATION"])
async def test_menu_links_and_location_reports_need_no_answer(event: str) -> None:
    rasa = RecordingRasa()
    wechat = platform()
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        status, body = await webhook.post(*wechat.event(OPENID, event))
    assert (status, body) == (200, "success")
    assert rasa.calls == []


async def test_unsubscribe_deletes_the_conversation(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rasa = RecordingRasa()
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))
    for sender in (OPENID, "oSomeoneElse000000000000000"):
        tracker = DialogueStateTracker.from_events(sender, [UserUttered("低保咋个办")])
        await store.save(tracker)
    wechat = platform()
    async with serve_channel(make_channel(), StubAgent(rasa, store)) as webhook:
        with caplog.at_level("INFO", logger="connectors.wechat"):
            status, body = await webhook.post(*wechat.event(OPENID, "unsubscribe"))
    assert (status, body) == (200, "success")
    assert list(await store.keys()) == ["oSomeoneElse000000000000000"]
    assert rasa.calls == []
    assert "unsubscribed: conversation data deleted" in caplog.text
    assert OPENID not in caplog.text


def test_long_answers_are_cut_within_the_platform_limit() -> None:
    text = "\n".join(f"第{i}条：" + "材料说明" * 20 for i in range(40))
    head, rest = fit(text, 2000)
    assert len(head.encode()) <= 2000
    assert rest and text.startswith(head.split("\n（")[0]) and text.endswith(rest)


def test_options_are_numbered_in_the_order_a_digit_picks_them() -> None:
    card = {"title": "便民服务中心", "subtitle": "牛佛镇", "buttons": [{"title": "导航"}]}
    messages = [
        *MENU,
        {"text": "附近的中心", "elements": [card], "buttons": [{"title": "换一个"}]},
        {"text": "还有别的吗？", "quick_replies": [{"title": "没有了"}]},
    ]
    text = render(messages)
    offered = options_in(messages)
    assert [option.payload for option in offered] == [
        "办老年证",
        "查进度",
        "导航",
        "换一个",
        "没有了",
    ]
    for number, option in enumerate(offered, start=1):
        assert f"\n{number}. {option.title}\n" in f"\n{text}\n"


def test_user_message_keeps_msgid_as_message_id() -> None:
    assert UserMessage("x", message_id=123).message_id == "123"
