"""Notices for residents (staff replies, status changes, handoff messages, rating
invitations) as the channels see them.

The Rasa server's notice worker (rasa_runtime/notices.py) claims them from the status
store's outbox and attaches itself to every channel that has `attach_notices`:

- when a resident is there — their message on WeChat or REST, their widget
  (re)connecting — the channel `take`s the notices waiting for that conversation, gives
  them before anything else, and reports them `given`;
- a channel that can also reach residents on its own (WeChat's customer-service API,
  a widget connected to this server) has `push_notice` and `notice_reach`, and the
  worker pushes due notices through it.

A channel never lets a notice fail a resident's turn: with the store unreachable,
`take` returns nothing and the notices wait in the store.

A notice may come with buttons (the rating invitation's five levels, from the domain):
each channel shows them as it shows a reply's, and a notice that is the last thing the
resident sees — pushed, or given on reconnecting — leaves its buttons as the resident's
options (connectors/options.py), so 「1」 picks the first. A notice given before the
answer to the resident's message is not the last thing shown: the answer is, and a
digit picks from the answer's buttons (or is plain text when it has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from connectors.options import Option

# Why a push did not reach the resident (NotificationError in backend/openapi.yaml).
CHANNEL_UNAVAILABLE = "channel_unavailable"
REJECTED = "rejected"
# The resident cannot be reached now but will be when they come back: not a failure.
WINDOW_CLOSED = "window_closed"
NOT_CONNECTED = "not_connected"


@dataclass(frozen=True)
class Notice:
    id: int
    conversation_id: str
    kind: str
    # Ready to show: the staff member's words framed with the kind's (domain.yml).
    text: str
    buttons: tuple[Option, ...] = ()

    def message(self) -> dict[str, Any]:
        """As a bot message of Rasa's: its text, and its buttons when it has any."""
        message: dict[str, Any] = {"text": self.text}
        if self.buttons:
            message["buttons"] = [dict(button._asdict()) for button in self.buttons]
        return message


class NoticeSource(Protocol):
    async def take(self, conversation_id: str) -> list[Notice]:
        """The notices waiting for this conversation, leased to this server; none when
        the store cannot be reached."""

    async def given(self, notices: list[Notice]) -> None:
        """Report the notices delivered (a failed report only means the store gives them
        again when their lease passes: at least once)."""
