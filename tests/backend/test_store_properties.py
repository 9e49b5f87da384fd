"""Property tests of the store's readers: tracking numbers and ID numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backend.contract import TRACKING_NUMBER
from backend.errors import ApiError
from backend.tracking import format_tracking_number, normalize_tracking_number
from backend.validation import normalize_id_number

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"

days = st.dates(min_value=date(2020, 1, 1), max_value=date(2099, 12, 31))
sequences = st.integers(min_value=1, max_value=9999)
separators = st.sampled_from(["", " ", "-", "－", "—", "  "])


def check_character(first17: str) -> str:
    """GB 11643, written out here rather than taken from the code under test."""
    return CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["510304", "510302", "110101", "360426"]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date.today()))
    sequence = draw(st.integers(min_value=0, max_value=999))
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


@given(days, sequences, separators, st.booleans())
def test_typed_tracking_numbers_read_back(
    day: date, sequence: int, separator: str, lower: bool
) -> None:
    canonical = format_tracking_number(day, sequence)
    assert TRACKING_NUMBER.fullmatch(canonical)
    typed = f"{canonical[:2]}{separator}{canonical[2:10]}{separator}{canonical[10:]}"
    typed = typed.lower() if lower else typed
    full_width = typed.translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})
    assert normalize_tracking_number(typed) == canonical
    assert normalize_tracking_number(full_width) == canonical


@given(st.text(max_size=40))
def test_the_tracking_reader_returns_a_contract_number_or_nothing(text: str) -> None:
    result = normalize_tracking_number(text)
    assert result is None or TRACKING_NUMBER.fullmatch(result)


@given(days, st.integers(min_value=0, max_value=99999))
def test_sequence_zero_and_impossible_dates_are_refused(day: date, sequence: int) -> None:
    assert normalize_tracking_number(f"DA{day:%Y%m%d}0000") is None
    assert normalize_tracking_number(f"DA{day:%Y}1301{sequence % 10000:04d}") is None
    assert normalize_tracking_number(f"DA{day:%Y%m%d}{sequence:05d}") is None


@given(id_numbers())
def test_valid_id_numbers_are_read_as_themselves(number: str) -> None:
    assert normalize_id_number(number) == number
    assert normalize_id_number(number.lower()) == number


@given(id_numbers(), st.sampled_from("0123456789X"))
def test_every_wrong_check_character_is_refused(number: str, wrong: str) -> None:
    assume(wrong != number[-1])
    with pytest.raises(ApiError) as refused:
        normalize_id_number(number[:-1] + wrong)
    assert refused.value.code == "invalid_id_number"


@given(id_numbers(), st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_a_changed_digit_is_refused(number: str, position: int, change: int) -> None:
    digit = str((int(number[position]) + change) % 10)
    changed = number[:position] + digit + number[position + 1 :]
    # A changed digit always changes the check sum (weights are non-zero mod 11).
    with pytest.raises(ApiError):
        normalize_id_number(changed)


@given(id_numbers())
def test_future_birth_dates_are_refused(number: str) -> None:
    future = date.today() + timedelta(days=2)
    first17 = f"{number[:6]}{future:%Y%m%d}{number[14:17]}"
    with pytest.raises(ApiError):
        normalize_id_number(first17 + check_character(first17))


@given(st.text(max_size=30))
def test_the_id_reader_returns_an_id_number_or_refuses(text: str) -> None:
    try:
        result = normalize_id_number(text)
    except ApiError as refusal:
        assert refusal.status == 400
    else:
        assert len(result) == 18 and result[-1] == check_character(result[:17])
