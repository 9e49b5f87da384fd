"""What counts as the same question (backend/inbox/grouping.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.inbox.grouping import jaccard, normalise, shingles, similar


def overlap(left: str, right: str) -> bool:
    a, b = shingles(left), shingles(right)
    return similar(len(a & b), len(a), len(b))


def test_width_case_punctuation_spaces_and_particles_do_not_matter() -> None:
    assert normalise("低保 咋个申请嘛？！") == normalise("低保咋个申请") == "低保咋个申请"
    assert normalise("ＤＡ２０２６") == normalise("da2026") == "da0"


def test_numbers_are_not_part_of_the_question() -> None:
    assert normalise("我电话13812345678打不通") == normalise("我电话13999999999打不通")


def test_rewordings_of_one_question_are_similar() -> None:
    assert overlap("老年证在哪里办", "老年证在哪点办")
    assert overlap("低保咋个申请", "请问低保咋个申请")


def test_different_questions_are_not() -> None:
    assert not overlap("低保咋个申请", "老年证咋个申请")
    assert not overlap("医保咋个交", "我家猫跑了")


def test_messages_without_words_share_the_empty_shingle() -> None:
    assert shingles("？？") == shingles("😀") == frozenset({""})


@given(st.text(max_size=40))
def test_a_text_is_similar_to_itself(text: str) -> None:
    assert overlap(text, text)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_jaccard_stays_between_zero_and_one(shared: int, left: int, right: int) -> None:
    shared = min(shared, left, right)
    assert 0.0 <= jaccard(shared, left, right) <= 1.0
