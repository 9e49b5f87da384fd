"""Who a WeChat message is from, as the rest of the assistant sees it.

The OpenID identifies a resident to this Official Account only; the conversation is
`wechat:<OpenID>` everywhere inside the assistant (Rasa's tracker, the channel's state,
the store), so no other channel can name it. Only the platform's own API, which knows
nothing of the namespace, is given the bare OpenID.
"""

from __future__ import annotations

from personaldata.masks import pseudonym

CHANNEL_NAME = "wechat"
_PREFIX = f"{CHANNEL_NAME}:"


def conversation_id(openid: str) -> str:
    """The conversation of the resident with this OpenID."""
    return f"{_PREFIX}{openid}"


def openid_of(conversation: str) -> str | None:
    """The OpenID a WeChat conversation belongs to; None for another channel's."""
    if conversation.startswith(_PREFIX) and len(conversation) > len(_PREFIX):
        return conversation[len(_PREFIX) :]
    return None


def for_log(conversation: str) -> str:
    """How a conversation appears in logs: followable, but not the OpenID."""
    return pseudonym(conversation)
