"""A digit or a button's title picks the button; anything else passes unchanged."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel

from connectors.guard import MAX_MESSAGE_CHARS
from connectors.options import (
    MAX_OPTIONS,
    MAX_PAYLOAD_CHARS,
    MAX_TITLE_CHARS,
    OfferingOutput,
    Option,
    OptionMemory,
    ReplyRecorder,
    chosen,
    option_memory,
    options_in,
)
from connectors.state import ChannelState, MemoryState

MENU = {
    "text": "您好！请问办什么事？",
    "buttons": [
        {"title": "办老年证", "payload": "办老年证"},
        {"title": "查办件进度", "payload": "查进度"},
        {"title": "转人工", "payload": "转人工"},
    ],
}
OFFERED = options_in([MENU])


@pytest.mark.parametrize(
    "text",
    ["1", "1.", "1、", " 1 ", "１", "①", "(1)", "一", "第一个", "第1个", "第一", "选1", "我选第1个"]
    + ["1号", "一号", "第一项", "办老年证", "办老年证。", " 办老年证 ！"],
)
def test_the_first_button_by_number_or_title(text: str) -> None:
    assert (chosen(text, OFFERED) or text) == "办老年证"


@pytest.mark.parametrize("text", ["2", "２", "②", "二", "第二个", "选2", "2号", "查办件进度？"])
def test_the_second_button_gives_its_payload(text: str) -> None:
    assert chosen(text, OFFERED) == "查进度"


@pytest.mark.parametrize(
    "text",
    [
        "DA202405200001",  # a tracking number
        "13812345678",  # a phone number
        "510304195503120042",  # an ID number
        "4",  # out of range
        "0",
        "第四个",
        "2个",  # a count, not a choice
        "一个",
        "1号楼",
        "老年证咋个办",
        "查进度",  # a tapped button's payload, sent as it is
        "",
        "。。。",
    ],
)
def test_anything_else_picks_nothing(text: str) -> None:
    assert chosen(text, OFFERED) is None


def test_nothing_is_picked_without_buttons() -> None:
    assert chosen("1", []) is None
    assert chosen("5", options_in([{"text": "家里几口人？"}])) is None


def test_buttons_are_numbered_across_a_reply_and_fill_in_for_each_other() -> None:
    reply = [
        {"text": "附近的中心", "elements": [{"title": "牛佛", "buttons": [{"title": "导航"}]}]},
        {"text": "还要别的吗？", "quick_replies": [{"payload": "没有了"}], "buttons": [{}]},
    ]
    assert [tuple(option) for option in options_in(reply)] == [
        ("导航", "导航"),
        ("没有了", "没有了"),
    ]


# --- remembered per sender ----------------------------------------------------------


async def test_the_last_reply_decides(state: ChannelState) -> None:
    memory = OptionMemory(state)
    assert await memory.resolve("a", "1") == "1"  # never offered anything
    await memory.remember("a", [MENU])
    assert await memory.resolve("a", "第二个") == "查进度"
    assert await memory.resolve("b", "1") == "1"  # another sender
    assert await memory.resolve("a", "5") == "5"  # out of range: unchanged, options kept
    assert await memory.resolve("a", "1") == "办老年证"

    await memory.remember("a", [])  # nothing was sent: still the menu
    assert await memory.resolve("a", "1") == "办老年证"
    await memory.remember("a", [{"text": "请问家里有几口人？"}])
    assert await memory.resolve("a", "5") == "5"
    assert await memory.resolve("a", "1") == "1"

    await memory.remember("a", [MENU])
    await memory.forget("a")
    assert await memory.resolve("a", "1") == "1"


async def test_options_expire(state: ChannelState) -> None:
    memory = OptionMemory(state, ttl=0.2)
    await memory.remember("a", [MENU])
    await asyncio.sleep(0.4)
    assert await memory.resolve("a", "1") == "1"


def buttons(count: int, title: str = "选项", payload: str = "答复") -> dict[str, Any]:
    return {
        "text": "请选",
        "buttons": [{"title": f"{title}{i}", "payload": f"{payload}{i}"} for i in range(count)],
    }


class RecordingState(MemoryState):
    """Keeps what was stored under which name, as a Redis would hold it."""

    def __init__(self, max_entries: int) -> None:
        super().__init__(max_entries)
        self.stored: dict[str, str] = {}

    async def put(self, name: str, value: str, ttl: float) -> None:
        self.stored[name] = value
        await super().put(name, value, ttl)


async def test_what_is_kept_is_bounded() -> None:
    # What a digit turns into is never more than the guard would admit as typed.
    assert MAX_PAYLOAD_CHARS <= MAX_MESSAGE_CHARS
    state = RecordingState(100)
    memory = OptionMemory(state)
    await memory.remember("a", [buttons(MAX_OPTIONS + 5)])
    assert await memory.resolve("a", str(MAX_OPTIONS)) == f"答复{MAX_OPTIONS - 1}"
    assert await memory.resolve("a", str(MAX_OPTIONS + 1)) == str(MAX_OPTIONS + 1)

    huge_payload = {"title": "大", "payload": "长" * (MAX_PAYLOAD_CHARS + 1)}
    huge_title = {"title": "题" * (MAX_TITLE_CHARS + 1), "payload": "短"}
    await memory.remember("a", [{"text": "请选", "buttons": [huge_payload, huge_title]}])
    assert await memory.resolve("a", "1") == "1"  # not kept, so it picks nothing
    assert await memory.resolve("a", "大") == "大"
    assert await memory.resolve("a", "2") == "短"
    assert await memory.resolve("a", "题" * (MAX_TITLE_CHARS + 1)) == "题" * (MAX_TITLE_CHARS + 1)

    largest = {"title": "题" * MAX_TITLE_CHARS, "payload": "长" * MAX_PAYLOAD_CHARS}
    for button in (huge_payload, huge_title, largest):
        await memory.remember("a", [{"text": "请选", "buttons": [button] * 50}])
        [stored] = state.stored.values()
        assert len(stored) <= MAX_OPTIONS * (MAX_TITLE_CHARS + MAX_PAYLOAD_CHARS + 10)


async def test_senders_are_keyed_by_a_fixed_length_hash() -> None:
    state = RecordingState(2)
    memory = OptionMemory(state)
    long_sender = "x" * 100_000
    for sender in ("a", "b", long_sender):
        await memory.remember(sender, [MENU])
    assert await memory.resolve(long_sender, "1") == "办老年证"
    assert await memory.resolve("a", "1") == "1"  # the oldest sender made room
    assert {len(name) for name in state.stored} == {len("options:") + 32}


@pytest.mark.usefixtures("channels_in_redis")
async def test_replicas_of_a_channel_share_options_through_redis() -> None:
    sender = f"resident-{uuid.uuid4().hex}"
    first, second, other_channel = (
        option_memory("rest"),
        option_memory("rest"),
        option_memory("socketio"),
    )
    await first.remember(sender, [MENU])
    assert await second.resolve(sender, "2") == "查进度"
    assert await other_channel.resolve(sender, "2") == "2"
    await first.forget(sender)
    for memory in (first, second, other_channel):
        await memory.close()


# --- output channels ------------------------------------------------------------------


async def test_a_turn_is_recorded_as_sent() -> None:
    collector = CollectingOutputChannel()
    recorder = ReplyRecorder(collector)
    await recorder.send_response("a", dict(MENU))
    assert recorder.name() == "collector"
    assert recorder.messages == [MENU]  # as Rasa sent it, before the channel took it apart
    assert collector.messages[0]["buttons"] == MENU["buttons"]


async def test_a_message_outside_a_turn_replaces_the_options() -> None:
    memory = OptionMemory(MemoryState(10))
    output = OfferingOutput(CollectingOutputChannel(), memory)
    await output.send_response("a", dict(MENU))
    assert await memory.resolve("a", "3") == "转人工"
    await output.send_text_message("a", "您的申请已受理。")
    assert await memory.resolve("a", "3") == "3"


# --- edges a broken reader would get wrong --------------------------------------------


def test_a_tapped_payload_is_never_read_as_another_buttons_title_or_number() -> None:
    offered = options_in(
        [
            {
                "text": "请选",
                "buttons": [
                    {"title": "查进度", "payload": "查看进度的办法"},
                    {"title": "查办件进度", "payload": "查进度"},
                    {"title": "第三项", "payload": "1"},
                ],
            }
        ]
    )
    assert chosen("查进度", offered) is None  # button 2's payload, not button 1's title
    assert chosen("1", offered) is None  # button 3's payload, not button 1
    assert chosen("查办件进度", offered) == "查进度"


def test_punctuation_alone_picks_no_punctuation_title() -> None:
    offered = options_in([{"text": "请选", "buttons": [{"title": "？", "payload": "帮助"}]}])
    assert chosen("。。。", offered) is None
    assert chosen("", offered) is None


def test_spaces_inside_a_title_are_ignored() -> None:
    assert chosen("办 老年证", OFFERED) == "办老年证"
    assert chosen("查　办件　进度", OFFERED) == "查进度"


def test_a_button_too_big_to_remember_is_picked_by_nothing() -> None:
    assert chosen("1", [Option("", "")]) is None
    assert chosen("2", [Option("", ""), Option("", "短")]) == "短"


async def test_the_largest_button_kept_is_kept_whole() -> None:
    memory = OptionMemory(MemoryState(10))
    title, payload = "题" * MAX_TITLE_CHARS, "长" * MAX_PAYLOAD_CHARS
    await memory.remember(
        "a", [{"text": "请选", "buttons": [{"title": title, "payload": payload}]}]
    )
    assert await memory.resolve("a", "1") == payload
    assert await memory.resolve("a", title) == payload


async def test_a_title_too_long_to_remember_is_not_picked_by_its_beginning() -> None:
    memory = OptionMemory(MemoryState(10))
    button = {"title": "题" * (MAX_TITLE_CHARS + 1), "payload": "短"}
    await memory.remember("a", [{"text": "请选", "buttons": [button]}])
    assert await memory.resolve("a", "题" * MAX_TITLE_CHARS) == "题" * MAX_TITLE_CHARS
    assert await memory.resolve("a", "1") == "短"


def test_a_long_run_of_digits_is_no_choice() -> None:
    assert chosen("9" * 5_000, OFFERED) is None
    assert chosen("001", OFFERED) is None
