"""Bot messages → the single text a passive reply can carry.

A passive reply is one text of limited size, with no buttons: buttons become numbered
options ("1. 办老年证"), and the resident answers with the digit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

OPTIONS_HINT = "请回复数字选择，比如回复「1」。"
MORE_HINT = "（后面还有，回复「查看」接着看）"
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass
class Rendered:
    text: str
    # Payload of option n is options[n - 1].
    options: list[str] = field(default_factory=list)


def render(messages: Iterable[dict[str, Any]]) -> Rendered:
    """One text for a sequence of Rasa bot messages (`send_response` dicts)."""
    blocks: list[str] = []
    options: list[str] = []
    for message in messages:
        lines: list[str] = []
        if message.get("text"):
            lines.append(str(message["text"]).strip())
        for element in message.get("elements") or []:
            lines.append(f"{element.get('title', '')}：{element.get('subtitle', '')}")
            lines.extend(_numbered(element.get("buttons") or [], options))
        lines.extend(
            _numbered(message.get("quick_replies") or message.get("buttons") or [], options)
        )
        if message.get("image"):
            lines.append(f"图片：{message['image']}")
        if message.get("attachment"):
            lines.append(f"附件：{message['attachment']}")
        # `custom` payloads are meant for other channels and have no text form here.
        if lines:
            blocks.append("\n".join(lines))
    if options:
        blocks.append(OPTIONS_HINT)
    return Rendered("\n\n".join(blocks), options)


def _numbered(buttons: list[dict[str, Any]], options: list[str]) -> list[str]:
    lines = []
    for button in buttons:
        title = str(button.get("title") or button.get("payload") or "")
        options.append(str(button.get("payload") or title))
        lines.append(f"{len(options)}. {title}")
    return lines


def chosen_option(text: str | None, options: list[str]) -> str | None:
    """The payload a bare digit reply picks, if `text` is one ("2", "２", " 2 ")."""
    if not text or not options:
        return None
    digits = text.strip().translate(_FULL_WIDTH_DIGITS)
    if not (digits.isascii() and digits.isdigit()):
        return None
    index = int(digits)
    if 1 <= index <= len(options):
        return options[index - 1]
    return None


def fit(text: str, max_bytes: int) -> tuple[str, str | None]:
    """Cut `text` to `max_bytes` of UTF-8; returns the part to send and the rest, if any.

    The cut falls on a line break when one is near, so an option or a sentence is not
    split, and the sent part says that more follows.
    """
    if len(text.encode()) <= max_bytes:
        return text, None
    budget = max_bytes - len(MORE_HINT.encode()) - 1
    head = text.encode()[:budget].decode(errors="ignore")
    line_break = head.rfind("\n")
    if line_break > len(head) // 2:
        head = head[:line_break]
    rest = text[len(head) :].lstrip()
    return f"{head.rstrip()}\n{MORE_HINT}", rest
