"""The five national levels of 政务服务"好差评" (国办发〔2019〕51号), and reading a
resident's reply to an invitation: a digit 1–5 in the order the invitation lists them, or
the level's words, optionally followed by a comment."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

VERY_SATISFIED = "very_satisfied"
SATISFIED = "satisfied"
FAIRLY_SATISFIED = "fairly_satisfied"
DISSATISFIED = "dissatisfied"
VERY_DISSATISFIED = "very_dissatisfied"

# In the invitation's order: 1 is the best.
LEVELS: tuple[str, ...] = (
    VERY_SATISFIED,
    SATISFIED,
    FAIRLY_SATISFIED,
    DISSATISFIED,
    VERY_DISSATISFIED,
)
LEVEL_LABELS = {
    VERY_SATISFIED: "非常满意",
    SATISFIED: "满意",
    FAIRLY_SATISFIED: "基本满意",
    DISSATISFIED: "不满意",
    VERY_DISSATISFIED: "非常不满意",
}
# A 差评 opens a rectification task.
BAD: frozenset[str] = frozenset({DISSATISFIED, VERY_DISSATISFIED})
COMMENT_MAX = 500

_DIGIT = re.compile(r"^\s*([1-5])(?![0-9])[\s、.．。,，:：]*(.*)$", re.S)
# Longest words first, so that 非常不满意 is not read as 不满意 or 满意.
_WORDS = sorted(LEVEL_LABELS.items(), key=lambda item: -len(item[1]))
_SEPARATORS = "\u3000 ，,。.、:：!！"


@dataclass(frozen=True)
class Answer:
    level: str
    comment: str | None


def read_answer(text: str) -> Answer | None:
    """The rating a reply gives, or None when it is not one (it goes to the assistant)."""
    normal = unicodedata.normalize("NFKC", text).strip()
    match = _DIGIT.match(normal)
    if match:
        return Answer(LEVELS[int(match[1]) - 1], _comment(match[2]))
    for level, words in _WORDS:
        if normal.startswith(words):
            return Answer(level, _comment(normal[len(words) :]))
    return None


def _comment(rest: str) -> str | None:
    comment = rest.strip(_SEPARATORS)
    return comment[:COMMENT_MAX] or None
