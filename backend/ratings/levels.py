"""The five national levels of 政务服务"好差评" (国办发〔2019〕51号), and reading a
resident's reply to an invitation: the level's words (a button of the invitation, or
typed), optionally followed by a comment. A bare digit is never a rating: it may pick a
button of a later reply or answer a form's question (the channels turn a digit that picks
one of the invitation's buttons into its words), and whether 5 is the best or the worst is
anyone's guess."""

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

# Longest words first, so that 非常不满意 is not read as 不满意 or 满意.
_WORDS = sorted(LEVEL_LABELS.items(), key=lambda item: -len(item[1]))
_SEPARATORS = "\u3000 ，,。.、:：!！"
SHORT_REPLY = 25
_ASKED = re.compile(r"满不满意|满意[吗不没么?？]")
_NEGATION = re.compile(r"[不没]")


@dataclass(frozen=True)
class Answer:
    level: str
    comment: str | None


def read_answer(text: str) -> Answer | None:
    """The rating a reply gives, or None when it is not one (it goes to the assistant).

    A reply that opens with a level's words is one, whatever follows (the comment). In a
    short reply (at most SHORT_REPLY characters) the words may stand anywhere — residents
    lead in (「说实话 不满意…」, 「这回满意了」, 「还可以 基本满意嘛」) — unless they are
    asked about (「满不满意」, 「满意吗」); 「不太满意」 and 「没有很满意」 are 不满意. The
    whole reply is kept as the comment when it says more than the level.
    """
    normal = unicodedata.normalize("NFKC", text).strip()
    for level, words in _WORDS:
        if normal.startswith(words):
            return Answer(level, _comment(normal[len(words) :]))
    if len(normal) > SHORT_REPLY or _ASKED.search(normal):
        return None
    for level, words in _WORDS:
        position = normal.find(words)
        if position >= 0:
            negated = level == SATISFIED and _NEGATION.search(
                normal[max(0, position - 3) : position]
            )
            return Answer(DISSATISFIED if negated else level, _comment(normal))
    return None


def _comment(rest: str) -> str | None:
    comment = rest.strip(_SEPARATORS)
    return comment[:COMMENT_MAX] or None
