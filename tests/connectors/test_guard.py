"""The guard: commands made harmless, empty and over-long messages answered kindly in
the domain's words, and one sender's messages taken one at a time, a flood refused."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
import yaml
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from connectors import guard
from connectors.guard import (
    DOMAIN_FILE,
    EMPTY_RESPONSE,
    FULL_WIDTH_SLASH,
    MAX_MESSAGE_CHARS,
    MAX_PENDING_PER_SENDER,
    TOO_FAST_RESPONSE,
    TOO_LONG_RESPONSE,
    GuardTexts,
    guard_texts,
    guarded,
    neutralise_command,
)
from connectors.options import OptionMemory
from connectors.state import MemoryState

TEXTS = GuardTexts(empty="空", too_long="太长", too_fast="太快")


@pytest.mark.parametrize(
    ("text", "harmless"),
    [
        ("/restart", "／restart"),
        (
            '/inform{"id_number": "360426199101010071"}',
            '／inform{"id_number": "360426199101010071"}',
        ),
        ("  /restart", "／restart"),
        ("\n\t/restart", "／restart"),
        ("//restart", "／/restart"),
        ("/", "／"),
    ],
)
def test_a_leading_slash_becomes_full_width(text: str, harmless: str) -> None:
    assert neutralise_command(text) == harmless
    # What Rasa reads as a command is a message starting with "/" once stripped.
    assert not UserMessage(neutralise_command(text)).text.startswith("/")


@pytest.mark.parametrize(
    "text", ["老年证咋个办", "1/2的人", "低保 /restart", "／restart", "", " ", "DA202405200001"]
)
def test_other_text_passes_unchanged(text: str) -> None:
    assert neutralise_command(text) == text


def test_refusals() -> None:
    assert TEXTS.refusal_for(None) == "空"
    assert TEXTS.refusal_for("") == "空"
    assert TEXTS.refusal_for(" \u3000\n") == "空"
    # 500 characters, the limit the residents are told, written out.
    assert TEXTS.refusal_for("啊" * 501) == "太长"
    assert TEXTS.refusal_for("啊" * 500) is None
    assert TEXTS.refusal_for("1") is None


def test_the_guards_words_are_the_domains() -> None:
    responses = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["responses"]
    texts = guard_texts()
    assert texts == GuardTexts(
        responses[EMPTY_RESPONSE][0]["text"],
        responses[TOO_LONG_RESPONSE][0]["text"],
        responses[TOO_FAST_RESPONSE][0]["text"],
    )
    assert f"{MAX_MESSAGE_CHARS}字" in texts.too_long, "the answer names the guard's limit"
    # Read once and shared by every channel, so no caller may change them.
    assert guard_texts() is texts
    with pytest.raises(dataclasses.FrozenInstanceError):
        texts.empty = "改了"  # type: ignore[misc]


@pytest.mark.parametrize("missing", [EMPTY_RESPONSE, TOO_LONG_RESPONSE, TOO_FAST_RESPONSE])
def test_a_missing_guard_response_stops_the_channel(tmp_path: Path, missing: str) -> None:
    domain = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
    del domain["responses"][missing]
    path = tmp_path / "domain.yml"
    path.write_text(yaml.safe_dump(domain, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match=f"domain.yml has no text for the response {missing}$"):
        guard_texts(path)


def test_a_sender_whose_messages_are_all_answered_is_forgotten() -> None:
    # Kept per sender while messages wait: one entry per resident ever seen would grow
    # without bound.
    queues = guard._SenderQueues()
    for _ in range(2):
        assert queues.enter("resident") is not None
    queues.leave("resident")
    assert "resident" in queues._pending
    queues.leave("resident")
    assert queues._pending == {}


async def test_commands_and_button_payloads_reach_rasa_as_text() -> None:
    reached: list[str] = []

    async def rasa(message: UserMessage) -> None:
        reached.append(message.text)
        menu = {"text": "请选", "buttons": [{"title": "重来", "payload": "/restart"}]}
        await message.output_channel.send_response(message.sender_id, menu)

    handle = guarded(rasa, OptionMemory(MemoryState(10)), TEXTS)
    for text in ["/restart", "1"]:  # "1" picks the button whose payload is a command
        await handle(UserMessage(text, CollectingOutputChannel(), "rest:r1"))
    assert reached == [f"{FULL_WIDTH_SLASH}restart", f"{FULL_WIDTH_SLASH}restart"]


async def test_refused_messages_are_answered_and_never_reach_rasa() -> None:
    reached: list[str] = []

    async def rasa(message: UserMessage) -> None:
        reached.append(message.text)

    handle = guarded(rasa, OptionMemory(MemoryState(10)), TEXTS)
    answers = []
    for text in ["  ", "啊" * (MAX_MESSAGE_CHARS + 1)]:
        output = CollectingOutputChannel()
        await handle(UserMessage(text, output, "rest:r1"))
        answers.append([message["text"] for message in output.messages])
    assert answers == [["空"], ["太长"]]
    assert reached == []


class SlowRasa:
    """Holds the flooder's messages until released; records what reaches it and how
    many of one sender's messages it holds at once."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, str]] = []
        self.release = asyncio.Event()
        self._test_loop = asyncio.get_running_loop()
        self._in_flight: dict[str, int] = {}
        self.most_at_once = 0

    async def __call__(self, message: UserMessage) -> None:
        sender = message.sender_id
        self._in_flight[sender] = self._in_flight.get(sender, 0) + 1
        self.most_at_once = max(self.most_at_once, self._in_flight[sender])
        if sender == "flooder":
            # Runs on the engine's loop; the event belongs to the test's loop.
            released = asyncio.run_coroutine_threadsafe(self.release.wait(), self._test_loop)
            await asyncio.wrap_future(released)
        self.handled.append((sender, message.text))
        self._in_flight[sender] -= 1


def message(sender: str, text: str) -> tuple[UserMessage, CollectingOutputChannel]:
    output = CollectingOutputChannel()
    return UserMessage(text, output, sender), output


async def test_a_flood_from_one_sender_is_refused_and_the_rest_kept_in_order() -> None:
    rasa = SlowRasa()
    handle = guarded(rasa, OptionMemory(MemoryState(100)), TEXTS)
    # Three messages of one sender may wait (the contract, written out); the rest are refused.
    assert MAX_PENDING_PER_SENDER == 3
    sent = [message("flooder", f"第{i}条") for i in range(5)]
    other, _ = message("neighbour", "老年证咋个办")

    tasks = [asyncio.ensure_future(handle(m)) for m, _ in sent]
    await asyncio.sleep(0.1)
    refused = [i for i, (_, output) in enumerate(sent) if output.messages]
    assert refused == [3, 4]
    assert sent[-1][1].messages[0]["text"] == "太快"

    # Another resident is answered while the flooder's messages wait.
    await asyncio.wait_for(handle(other), timeout=5)
    assert rasa.handled == [("neighbour", "老年证咋个办")]

    rasa.release.set()
    await asyncio.gather(*tasks)
    flooder = [text for sender, text in rasa.handled if sender == "flooder"]
    assert flooder == ["第0条", "第1条", "第2条"]
    assert rasa.most_at_once == 1

    # Once answered, the sender may write again.
    again, output = message("flooder", "还有一个问题")
    await handle(again)
    assert rasa.handled[-1] == ("flooder", "还有一个问题")
    assert output.messages == []
