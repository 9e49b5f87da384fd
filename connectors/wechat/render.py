"""Bot messages → the single text a passive reply can carry.

A passive reply is one text of limited size, with no buttons: buttons become numbered
options ("1. 办老年证"), and the resident answers with the digit (read as the
button by connectors/options.py, like on every channel).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.options import Option, option


def render(messages: Iterable[dict[str, Any]], options_hint: str) -> str:
    """One text for a sequence of Rasa bot messages (`send_response` dicts).

    Buttons are numbered in the order `connectors.options.options_in` gives them, the
    order in which a digit picks them; `options_hint` follows them.
    """
    blocks: list[str] = []
    offered: list[Option] = []
    for message in messages:
        lines: list[str] = []
        if message.get("text"):
            lines.append(str(message["text"]).strip())
        for element in message.get("elements") or []:
            lines.append(f"{element.get('title', '')}：{element.get('subtitle', '')}")
            lines.extend(_numbered(element.get("buttons") or [], offered))
        lines.extend(
            _numbered(message.get("quick_replies") or message.get("buttons") or [], offered)
        )
        if message.get("image"):
            lines.append(f"图片：{message['image']}")
        if message.get("attachment"):
            lines.append(f"附件：{message['attachment']}")
        # `custom` payloads are meant for other channels and have no text form here.
        if lines:
            blocks.append("\n".join(lines))
    if offered:
        blocks.append(options_hint)
    return "\n\n".join(blocks)


def _numbered(buttons: list[dict[str, Any]], offered: list[Option]) -> list[str]:
    lines = []
    for button in buttons:
        offered.append(option(button))
        lines.append(f"{len(offered)}. {offered[-1].title}")
    return lines


def fit(text: str, max_bytes: int, more_hint: str) -> tuple[str, str | None]:
    """Cut `text` to `max_bytes` of UTF-8; returns the part to send and the rest, if any.

    The cut falls on a line break when one is near, so an option or a sentence is not
    split, and the sent part ends with `more_hint`, which says that more follows.
    """
    if len(text.encode()) <= max_bytes:
        return text, None
    budget = max_bytes - len(more_hint.encode()) - 1
    head = text.encode()[:budget].decode(errors="ignore")
    line_break = head.rfind("\n")
    if line_break > len(head) // 2:
        head = head[:line_break]
    rest = text[len(head) :].lstrip()
    return f"{head.rstrip()}\n{more_hint}", rest
