"""Which captured questions are "the same question": normalised text and shingles.

Residents ask one thing in many ways (「低保咋个申请嘛」, 「低保怎么申请？」, 「抵保咋个申请」)
and one staff reply should serve them all. A question is normalised (full-width forms,
case, punctuation and spaces, the particles that end spoken questions, numbers, which are
personal or incidental), cut into character bigrams, and joins the open group whose
first question shares enough of them: Jaccard similarity at least SIMILARITY, or — a short
question inside a long one (「路灯坏了找哪个」 in 「我们村口那个路灯坏了半个月了找哪个修嘛」)
— nearly all of the shorter one's bigrams (CONTAINMENT, for questions of MIN_CONTAINED
bigrams or more: 「低保」 alone is in everything).

Bigrams cannot see that 「今年过年社区发不发米发油嘛」 and 「春节慰问品啥时候发哦」 are one
question; the resident who rephrases after 「能换个说法再问一次吗」 can: the assistant marks
a captured turn that comes right after another captured turn of the conversation
(`follows`), and it joins that turn's group (backend/inbox/operations.py).
"""

from __future__ import annotations

import re
import unicodedata

SIMILARITY = 0.5
CONTAINMENT = 0.8
MIN_CONTAINED = 4
# Spoken sentence endings and fillers that carry no meaning for grouping.
_PARTICLES = re.compile(r"[嘛哈呢吗啊呀哦嘞噻撒喃咯哇吧呐唛嗦]+")
_NOT_WORDS = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"[0-9]+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIGITS.sub("0", text)
    text = _NOT_WORDS.sub("", text)
    return _PARTICLES.sub("", text)


def shingles(text: str) -> frozenset[str]:
    """Character bigrams of the normalised text; a shorter text is its own shingle (so
    messages of only emoji or punctuation form one group, by the empty shingle)."""
    normal = normalise(text)
    if len(normal) < 2:
        return frozenset({normal})
    return frozenset(normal[index : index + 2] for index in range(len(normal) - 1))


def jaccard(shared: int, left: int, right: int) -> float:
    """Similarity of two sets from their sizes and the size of their intersection."""
    union = left + right - shared
    return shared / union if union else 0.0


def similar(shared: int, left: int, right: int) -> bool:
    smaller = min(left, right)
    contained = smaller >= MIN_CONTAINED and shared / smaller >= CONTAINMENT
    return contained or jaccard(shared, left, right) >= SIMILARITY
