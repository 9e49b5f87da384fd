"""The capture and resolution requests of the Rasa server, checked against the contract
(schemas Capture and Resolution in backend/openapi.yaml)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.contract import CAPTURE_REASONS, CHANNELS, SCHEMAS, TOWNSHIPS
from backend.errors import invalid_field
from backend.validation import (
    conversation_id,
    json_object,
    optional_text,
)

_CAPTURE = SCHEMAS["Capture"]["properties"]
CAPTURE_ID = re.compile(SCHEMAS["CaptureId"]["pattern"])
TEXT_MAX = _CAPTURE["text"]["maxLength"]
REPLY_MAX = _CAPTURE["reply"]["maxLength"]
MODEL_MAX = _CAPTURE["model"]["maxLength"]
GUESSES_MAX = _CAPTURE["intents"]["maxItems"]
LABEL_MAX = SCHEMAS["Guess"]["properties"]["name"]["maxLength"]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Guess:
    name: str
    confidence: float


@dataclass(frozen=True)
class Capture:
    capture_id: str
    reason: str
    channel: str
    conversation_id: str
    text: str
    occurred_at: datetime
    intents: tuple[Guess, ...]
    topics: tuple[Guess, ...]
    model: str | None
    reply: str | None
    township: str | None
    follows: str | None = None

    @property
    def top_label(self) -> str | None:
        """The best topic, or the best intent when no topic was guessed."""
        best = self.topics or self.intents
        return best[0].name if best else None


def capture_id(value: Any) -> str:
    if not isinstance(value, str) or not CAPTURE_ID.fullmatch(value):
        raise invalid_field("capture_id", "capture_id 应为 8–64 个字母、数字、- 或 _")
    return value


def label(value: Any, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= LABEL_MAX or _CONTROL.search(value):
        raise invalid_field(field, f"{field} 应为 1–{LABEL_MAX} 个字符")
    return value


def _guesses(body: dict[str, Any], field: str) -> tuple[Guess, ...]:
    value = body.get(field, [])
    if not isinstance(value, list) or len(value) > GUESSES_MAX:
        raise invalid_field(field, f"{field} 应为最多 {GUESSES_MAX} 项的列表")
    guesses = []
    for item in value:
        item = json_object(item, {"name", "confidence"})
        confidence = item.get("confidence")
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, (int, float))
            or not math.isfinite(confidence)
            or not 0 <= confidence <= 1
        ):
            raise invalid_field(field, f"{field} 的 confidence 应在 0 到 1 之间")
        guesses.append(Guess(label(item.get("name"), field), float(confidence)))
    return tuple(guesses)


def _text(body: dict[str, Any]) -> str:
    """What the resident wrote; control characters become spaces rather than a refusal,
    which would lose the question (the sender gives up on a 400)."""
    value = body.get("text")
    if not isinstance(value, str) or len(value) > TEXT_MAX:
        raise invalid_field("text", f"text 应为不超过 {TEXT_MAX} 个字符的文本")
    return _CONTROL.sub(" ", value)


def _occurred_at(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise invalid_field("occurred_at", "occurred_at 应为带时区的 ISO 8601 时间")
    return moment


def parse_capture(body: Any) -> Capture:
    body = json_object(body, set(_CAPTURE))
    channel = body.get("channel")
    if channel not in CHANNELS:
        raise invalid_field("channel", "未知的渠道")
    conversation = conversation_id(body.get("conversation_id"))
    if not conversation.startswith(f"{channel}:"):
        raise invalid_field("conversation_id", "conversation_id 应以渠道名开头")
    reason = body.get("reason")
    if reason not in CAPTURE_REASONS:
        raise invalid_field("reason", "未知的原因")
    township = body.get("township")
    if township is not None and township not in TOWNSHIPS:
        raise invalid_field("township", "不是大安区的乡镇（街道）")
    return Capture(
        capture_id=capture_id(body.get("capture_id")),
        reason=reason,
        channel=channel,
        conversation_id=conversation,
        text=_text(body),
        occurred_at=_occurred_at(body.get("occurred_at")),
        intents=_guesses(body, "intents"),
        topics=_guesses(body, "topics"),
        model=optional_text(body, "model", max_length=MODEL_MAX),
        reply=optional_text(body, "reply", max_length=REPLY_MAX, multiline=True),
        township=township,
        follows=None if body.get("follows") is None else capture_id(body.get("follows")),
    )


def parse_resolution(body: Any) -> str:
    body = json_object(body, {"label"})
    return label(body.get("label"), "label")
