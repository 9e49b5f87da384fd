"""Screening shared by every public channel, applied before a message reaches Rasa.

Rasa treats text starting with "/" as an intent with entities (`/restart`,
`/inform{"id_number": ...}`), bypassing NLU and slot validation; residents must never
be able to do that, so a leading slash becomes a full-width one and the text goes
through NLU like any other.

Each resident's messages then reach Rasa one at a time, in order, waiting here rather
than in the engine's few workers (where Rasa would hold a worker while it polls the
conversation lock). Someone with more messages waiting than anyone can type is a
script or a stuck key: they are asked to slow down, so one sender cannot fill the
queue everyone shares. Admitted messages are handled on the engine's thread
(rasa_runtime/engine.py).

In its turn, a message that picks one of the buttons of the sender's last reply
becomes that button's payload (connectors/options.py), and the buttons of the reply
to it are remembered for the next one.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml
from rasa.core.channels.channel import UserMessage
from rasa.shared.constants import INTENT_MESSAGE_PREFIX

from connectors.options import OptionMemory, ReplyRecorder
from rasa_runtime.engine import MessageHandler, handle_in_engine

MAX_MESSAGE_CHARS = 500
FULL_WIDTH_SLASH = "／"

# The guard's answers are the residents' text like any other: staff edit them in the
# domain. They are read once, when a channel starts, and a missing one stops it.
DOMAIN_FILE = Path(__file__).resolve().parents[1] / "domain.yml"
EMPTY_RESPONSE = "utter_guard_empty"
TOO_LONG_RESPONSE = "utter_guard_too_long"
TOO_FAST_RESPONSE = "utter_guard_too_fast"

# Messages of one sender being handled or waiting; more are refused.
MAX_PENDING_PER_SENDER = 3


def neutralise_command(text: str) -> str:
    """Return the text with a leading command prefix made harmless."""
    stripped = text.lstrip()
    if stripped.startswith(INTENT_MESSAGE_PREFIX):
        return FULL_WIDTH_SLASH + stripped[len(INTENT_MESSAGE_PREFIX) :]
    return text


@dataclass(frozen=True)
class GuardTexts:
    empty: str
    too_long: str
    too_fast: str

    def refusal_for(self, text: str | None) -> str | None:
        """A kind answer for a message that should not reach the model, else None."""
        if text is None or not text.strip():
            return self.empty
        if len(text) > MAX_MESSAGE_CHARS:
            return self.too_long
        return None


@functools.cache
def guard_texts(domain_file: Path = DOMAIN_FILE) -> GuardTexts:
    """The first text of each of the guard's responses in the domain file."""
    responses = yaml.safe_load(domain_file.read_text(encoding="utf-8")).get("responses") or {}

    def text(name: str) -> str:
        variations = responses.get(name) or [{}]
        found = variations[0].get("text")
        if not isinstance(found, str) or not found.strip():
            raise ValueError(f"{domain_file} has no text for the response {name}")
        return found

    return GuardTexts(text(EMPTY_RESPONSE), text(TOO_LONG_RESPONSE), text(TOO_FAST_RESPONSE))


class _SenderQueues:
    """One lock per sender with messages pending, and how many are pending."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[asyncio.Lock, int]] = {}

    def enter(self, sender: str) -> asyncio.Lock | None:
        """The sender's lock to wait on, or None when they already have too many pending."""
        lock, count = self._pending.get(sender) or (asyncio.Lock(), 0)
        if count >= MAX_PENDING_PER_SENDER:
            return None
        self._pending[sender] = (lock, count + 1)
        return lock

    def leave(self, sender: str) -> None:
        lock, count = self._pending[sender]
        if count > 1:
            self._pending[sender] = (lock, count - 1)
        else:
            del self._pending[sender]


def guarded(
    on_new_message: MessageHandler, options: OptionMemory, texts: GuardTexts | None = None
) -> MessageHandler:
    """Wrap Rasa's message handler: every message is screened, queued behind the
    sender's earlier ones, then handed to the engine. `texts` defaults to the domain's."""
    texts = texts or guard_texts()
    queues = _SenderQueues()

    async def handle(message: UserMessage) -> None:
        refusal = texts.refusal_for(message.text)
        lock = queues.enter(message.sender_id) if refusal is None else None
        if lock is None:
            # Not a reply of the bot's: the buttons above it can still be picked.
            reply = refusal or texts.too_fast
            await message.output_channel.send_text_message(message.sender_id, reply)
            return
        try:
            async with lock:
                await _take_turn(on_new_message, options, message)
        finally:
            queues.leave(message.sender_id)

    return handle


async def _take_turn(
    on_new_message: MessageHandler, options: OptionMemory, message: UserMessage
) -> None:
    # Only now, after the sender's earlier messages were answered, is their last
    # reply the one a digit answers. A payload is screened like typed text.
    message.text = neutralise_command(await options.resolve(message.sender_id, message.text))
    reply = ReplyRecorder(message.output_channel)
    message.output_channel = reply
    await handle_in_engine(on_new_message, message)
    await options.remember(message.sender_id, reply.messages)
