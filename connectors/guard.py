"""Screening shared by every public channel, applied before a message reaches Rasa.

Rasa treats text starting with "/" as an intent with entities (`/restart`,
`/inform{"id_number": ...}`), bypassing NLU and slot validation; residents must never
be able to do that, so a leading slash becomes a full-width one and the text goes
through NLU like any other.

Admitted messages are handled on the engine's thread (connectors/engine.py).
"""

from __future__ import annotations

from rasa.core.channels.channel import UserMessage
from rasa.shared.constants import INTENT_MESSAGE_PREFIX

from connectors.engine import MessageHandler, handle_in_engine

MAX_MESSAGE_CHARS = 500
FULL_WIDTH_SLASH = "／"

EMPTY_REPLY = "您好像没有输入内容。请直接打字问我，比如「老年证咋个办」。"
TOO_LONG_REPLY = (
    f"您的消息太长了（超过{MAX_MESSAGE_CHARS}字），我一次看不完。请分几次发，每次说一件事。"
)


def neutralise_command(text: str) -> str:
    """Return the text with a leading command prefix made harmless."""
    stripped = text.lstrip()
    if stripped.startswith(INTENT_MESSAGE_PREFIX):
        return FULL_WIDTH_SLASH + stripped[len(INTENT_MESSAGE_PREFIX) :]
    return text


def refusal_for(text: str | None) -> str | None:
    """A kind answer for a message that should not reach the model, else None."""
    if text is None or not text.strip():
        return EMPTY_REPLY
    if len(text) > MAX_MESSAGE_CHARS:
        return TOO_LONG_REPLY
    return None


def guarded(on_new_message: MessageHandler) -> MessageHandler:
    """Wrap Rasa's message handler: every message is screened, then handed to the engine."""

    async def handle(message: UserMessage) -> None:
        refusal = refusal_for(message.text)
        if refusal is not None:
            await message.output_channel.send_text_message(message.sender_id, refusal)
            return
        message.text = neutralise_command(message.text)
        await handle_in_engine(on_new_message, message)

    return handle
