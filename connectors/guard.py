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

In its turn, a message that picks one of the buttons of the sender's last reply first
becomes that button's payload (connectors/options.py): 「1」 after the rating
invitation's buttons is 「非常满意」, 「1」 after a menu is its first question, and 「3」
answering a question without buttons stays 「3」. Only then is it routed by the handoff
state (connectors/handoff.py), so the store reads what the resident chose: while a
person has the conversation it goes to staff (a pressed button in its words), not to
Rasa, and a rating (the level's words) is recorded and thanked without Rasa. Whatever
the resident is told in return — Rasa's reply, or the thanks — is their last reply,
and its buttons are remembered for the next message.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path

from rasa.core.channels.channel import UserMessage
from rasa.shared.constants import INTENT_MESSAGE_PREFIX

from connectors.domain_words import DOMAIN_FILE, first_texts
from connectors.handoff import HandoffDesk, shared_desk
from connectors.options import OptionMemory, ReplyRecorder
from rasa_runtime.engine import MessageHandler, handle_in_engine

MAX_MESSAGE_CHARS = 500
FULL_WIDTH_SLASH = "／"

# The guard's answers are the residents' text like any other: staff edit them in the
# domain (DOMAIN_FILE). They are read once, when a channel starts, and a missing one
# stops it.
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
    names = (EMPTY_RESPONSE, TOO_LONG_RESPONSE, TOO_FAST_RESPONSE)
    return GuardTexts(*first_texts(names, domain_file).values())


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
    on_new_message: MessageHandler,
    options: OptionMemory,
    texts: GuardTexts | None = None,
    desk: HandoffDesk | None = None,
) -> MessageHandler:
    """Wrap Rasa's message handler: every message is screened, queued behind the
    sender's earlier ones, routed by the handoff state, then handed to the engine.
    `texts` default to the domain's, `desk` to the server's (connectors/handoff.py)."""
    texts = texts or guard_texts()
    desk = desk or shared_desk()
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
                await _take_turn(on_new_message, options, desk, message)
        finally:
            queues.leave(message.sender_id)

    return handle


async def _take_turn(
    on_new_message: MessageHandler, options: OptionMemory, desk: HandoffDesk, message: UserMessage
) -> None:
    # Only now, after the sender's earlier messages were answered, is their last
    # reply the one a digit answers.
    message.text = await options.resolve(message.sender_id, message.text)
    reply = ReplyRecorder(message.output_channel)
    # Before Rasa, so that a conversation staff have is not changed by the message.
    instead = await desk.answer(message.sender_id, message.text)
    if instead is None:
        # A payload is screened like typed text; staff read what was typed.
        message.text = neutralise_command(message.text)
        message.output_channel = reply
        await handle_in_engine(on_new_message, message)
    elif instead:
        await reply.send_text_message(message.sender_id, instead)
    await options.remember(message.sender_id, reply.messages)
