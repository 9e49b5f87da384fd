"""A digit or a button's title picks that button, on every public channel.

WeChat shows buttons as numbered lines, the widget as buttons, REST clients however
they like; everywhere residents answer with 「1」, 「第一个」, 「①」 or the button's own
words. Each channel remembers the buttons of the last reply it sent to a sender (a
turn's reply is recorded by connectors/guard.py; messages sent outside a turn each
count as a reply). When the sender's next message picks one of them, it reaches Rasa
as that button's payload. Anything else passes unchanged, and a digit is a choice only
while the last reply had buttons: a tracking number, a phone number, an ID number or a
household size 「5」 typed in answer to a question is never read as one.

What is kept is bounded: a few options per sender, each of limited size, expiring,
under a hashed sender id (no resident identifier in keys), in a bounded in-memory map
or in Redis shared by replicas (`CHANNELS_REDIS_URL`; WeChat uses its own state).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from rasa.core.channels.channel import OutputChannel
from sanic import Blueprint

from connectors.state import ChannelState, MemoryState, RedisState

REDIS_URL_VARIABLE = "CHANNELS_REDIS_URL"
# 一 … 十; no reply of this assistant offers more than five.
MAX_OPTIONS = 10
# Payloads are the bot's own short questions, and what a digit turns into must stay
# within what the guard admits; a longer one is not remembered (its number then picks
# nothing) rather than stored or cut into something else.
MAX_PAYLOAD_CHARS = 200
# Nobody types a longer title word for word; its number still picks it.
MAX_TITLE_CHARS = 100
# As long as Rasa keeps a conversation session open (session_expiration_time in
# domain.yml): a menu from a session that has ended is stale.
DEFAULT_TTL = 3600.0
# Senders remembered by one process when not in Redis; the oldest are dropped first.
MAX_SENDERS = 10_000

_NUMERALS = {numeral: value for value, numeral in enumerate("一二三四五六七八九十", start=1)}
_NUMBER = rf"[0-9]{{1,2}}|[{''.join(_NUMERALS)}]"
# 1, 1号, 第一, 第1个, 选1, 我选第二项. A bare 「2个」 is a count, not a choice.
_ORDINAL = re.compile(rf"(?:我?选择?)?(?:第(?P<nth>{_NUMBER})[个项条]?|(?P<bare>{_NUMBER})号?)")


class Option(NamedTuple):
    title: str
    # Empty when the button was too big to remember: its number picks nothing.
    payload: str


def option(button: Mapping[str, Any]) -> Option:
    """A button as an option; either of title and payload stands in for the other."""
    title = str(button.get("title") or button.get("payload") or "")
    return Option(title, str(button.get("payload") or title))


def options_in(messages: Iterable[Mapping[str, Any]]) -> list[Option]:
    """A reply's buttons in the order they are numbered from 1: in each message, every
    card's buttons, then the message's own (quick replies, else buttons)."""
    found: list[Option] = []
    for message in messages:
        for element in message.get("elements") or []:
            found.extend(option(button) for button in element.get("buttons") or [])
        found.extend(
            option(button)
            for button in message.get("quick_replies") or message.get("buttons") or []
        )
    return found


def chosen(text: str, options: Sequence[Option]) -> str | None:
    """The payload `text` picks from `options` (by title or by number), else None."""
    wanted = _comparable(text)
    # A tapped button sends its payload, which may read like another button's title.
    if not wanted or any(text == known.payload for known in options):
        return None
    for known in options:
        if known.title and _comparable(known.title) == wanted:
            return known.payload or None
    number = _ordinal(wanted)
    if number is not None and 1 <= number <= len(options):
        return options[number - 1].payload or None
    return None


def _ordinal(comparable: str) -> int | None:
    """The number a choice like 「第二个」 or 「2号」 names, else None."""
    match = _ORDINAL.fullmatch(comparable)
    if match is None:
        return None
    number = match.group("nth") or match.group("bare")
    return _NUMERALS.get(number) or int(number)


def _comparable(text: str) -> str:
    """Full-width and circled forms (１, ①) as plain ones, case and spaces ignored,
    punctuation around it dropped (「1.」, 「转人工。」)."""
    text = "".join(unicodedata.normalize("NFKC", text).casefold().split())
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start])[0] in "PZ":
        start += 1
    while end > start and unicodedata.category(text[end - 1])[0] in "PZ":
        end -= 1
    return text[start:end]


def _bounded(options: Sequence[Option]) -> list[Option]:
    kept = []
    for known in options[:MAX_OPTIONS]:
        if len(known.payload) > MAX_PAYLOAD_CHARS:
            known = Option("", "")
        elif len(known.title) > MAX_TITLE_CHARS:
            known = Option("", known.payload)
        kept.append(known)
    return kept


class OptionMemory:
    """The options each sender of one channel was last offered."""

    def __init__(self, state: ChannelState, ttl: float = DEFAULT_TTL) -> None:
        self._state = state
        self._ttl = ttl

    async def resolve(self, sender: str, text: str) -> str:
        """`text`, or the payload of the option it picks."""
        stored = await self._state.get(_key(sender))
        if stored is None:
            return text
        options = [Option(*pair) for pair in json.loads(stored)]
        return chosen(text, options) or text

    async def remember(self, sender: str, messages: Sequence[Mapping[str, Any]]) -> None:
        """The buttons of the reply `messages` replace what `sender` was offered."""
        if not messages:
            return  # nothing was sent: the reply the sender sees is still the last one
        options = _bounded(options_in(messages))
        if options:
            stored = json.dumps([list(known) for known in options], ensure_ascii=False)
            await self._state.put(_key(sender), stored, self._ttl)
        else:
            # A digit must never pick from a menu the resident no longer sees.
            await self._state.delete(_key(sender))

    async def forget(self, sender: str) -> None:
        await self._state.delete(_key(sender))

    async def close(self) -> None:
        await self._state.close()


def _key(sender: str) -> str:
    # Fixed length whatever a REST client sends as sender, and no identifier in Redis.
    return f"options:{hashlib.sha256(str(sender).encode()).hexdigest()[:32]}"


def redis_url(environ: Mapping[str, str] = os.environ) -> str:
    """The Redis the REST and widget channels share state through, or "" for memory."""
    return (environ.get(REDIS_URL_VARIABLE) or "").strip()


def option_memory(channel: str, environ: Mapping[str, str] = os.environ) -> OptionMemory:
    """In memory for one process; in Redis when `CHANNELS_REDIS_URL` is set, so a digit
    is understood on whichever replica it lands."""
    url = redis_url(environ)
    if url:
        # Per channel: one sender id on two channels is not one conversation on screen.
        return OptionMemory(RedisState(url, prefix=f"channels:{channel}:"))
    return OptionMemory(MemoryState(MAX_SENDERS))


def closed_on_stop(blueprint: Blueprint, memory: OptionMemory) -> Blueprint:
    """`blueprint`, closing `memory`'s connection when the server stops."""

    async def close(*_: Any) -> None:
        await memory.close()

    blueprint.listener("after_server_stop")(close)
    return blueprint


class ReplyRecorder(OutputChannel):
    """Passes a turn's messages on to `output`, keeping a copy: the turn's reply."""

    def __init__(self, output: OutputChannel) -> None:
        self._output = output
        self.messages: list[dict[str, Any]] = []

    def name(self) -> str:  # type: ignore[override]
        # Rasa picks channel-specific responses by this name.
        return self._output.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # Copied first: Rasa's send_response pops the fields it dispatches on.
        self.messages.append(dict(message))
        await self._output.send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.messages.append({"text": text})
        await self._output.send_text_message(recipient_id, text, **kwargs)


class OfferingOutput(OutputChannel):
    """A channel's output outside a resident's turn (Rasa's HTTP API, staff replies):
    each message is a reply of its own, so its buttons replace the sender's options."""

    def __init__(self, output: OutputChannel, memory: OptionMemory) -> None:
        self._output = output
        self._memory = memory

    def name(self) -> str:  # type: ignore[override]
        return self._output.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # Before sending: a resident answering at once must find the options.
        await self._memory.remember(recipient_id, [message])
        await self._output.send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._memory.remember(recipient_id, [{"text": text}])
        await self._output.send_text_message(recipient_id, text, **kwargs)
