"""The five national levels of 政务服务"好差评" (国办发〔2019〕51号), and reading a
resident's reply to an invitation: the level's words (a button of the invitation, or
typed), optionally followed by a comment. A bare digit is never a rating: it may pick a
button of a later reply or answer a form's question (the channels turn a digit that picks
one of the invitation's buttons into its words), and whether 5 is the best or the worst is
anyone's guess."""

from __future__ import annotations

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
    for level, words in _WORDS:
        if normal.startswith(words):
            return Answer(level, _comment(normal[len(words) :]))
    return None


def _comment(rest: str) -> str | None:
    comment = rest.strip(_SEPARATORS)
    return comment[:COMMENT_MAX] or None
