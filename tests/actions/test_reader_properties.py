"""Properties of the readers of ID numbers, phone numbers and places, over many
generated inputs (hypothesis): every valid value is read back in every usual form,
and a wrong check character is never accepted.

The check character is computed here from GB 11643 written out by hand (weights and
the remainder → character table), not with the library the reader uses.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.actions import places, reading, validation
from bot.actions.validation import InvalidValue

# GB 11643-1999: weights of the first 17 digits; the remainder mod 11 gives the check.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def check_character(first17: str) -> str:
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["510304", "510302", "510322", "110101", "440305"]))
    birth = draw(st.dates(datetime.date(1900, 1, 1), datetime.date(2020, 12, 31)))
    sequence = draw(st.integers(0, 999))
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def written(number: str, style: int) -> str:
    """The ways residents type a number: as is, lower-case x, full width, in groups."""
    if style == 1:
        return number.lower()
    if style == 2:
        return number.translate(FULL_WIDTH)
    if style == 3:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


@given(id_numbers(), st.integers(0, 3), st.sampled_from(["", "身份证是", "号码 "]))
def test_every_valid_id_number_is_read_in_every_usual_form(number, style, before):
    assert validation.id_number(before + written(number, style) + " 哈") == number


@given(id_numbers(), st.sampled_from("0123456789X"))
def test_a_wrong_check_character_is_never_accepted(number, wrong):
    if wrong == number[-1]:
        return
    with pytest.raises(InvalidValue) as error:
        validation.id_number(number[:-1] + wrong)
    assert error.value.reason == "checksum"


# Hand-checked: the right check character of each is given, the wrong one is refused.
@pytest.mark.parametrize(
    "wrong, right",
    [
        ("36042619910101007X", "360426199101010071"),  # a digit is right, X is wrong
        ("51030419550312004X", "510304195503120042"),
        ("510304195206151070", "51030419520615107X"),  # X is right, a digit is wrong
        ("510304195206151071", "51030419520615107X"),
    ],
)
def test_a_wrong_x_is_refused_and_the_right_one_read(wrong, right):
    with pytest.raises(InvalidValue) as error:
        validation.id_number(wrong)
    assert error.value.reason == "checksum"
    assert validation.id_number(right) == right


# Prefixes every numbering plan lists as mobile.
MOBILE_PREFIXES = ["130", "135", "138", "139", "150", "152", "158", "186", "187", "189", "199"]


@st.composite
def mobile_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(MOBILE_PREFIXES))
    return prefix + draw(st.text("0123456789", min_size=8, max_size=8))


@given(mobile_numbers(), st.sampled_from(["", "+86", "+86 ", "0086", "86-"]), st.integers(0, 2))
def test_every_mobile_number_is_read_in_every_usual_form(number, country, style):
    typed = number
    if style == 1:
        typed = f"{number[:3]} {number[3:7]} {number[7:]}"
    elif style == 2:
        typed = number.translate(FULL_WIDTH)
    assert validation.mobile_phone(country + typed) == number


@given(mobile_numbers(), st.integers(1, 3))
def test_a_mobile_number_with_digits_missing_is_refused(number, missing):
    with pytest.raises(InvalidValue):
        validation.mobile_phone(number[:-missing])


@given(st.text("0123456789", min_size=4, max_size=4))
def test_a_proof_is_exactly_four_id_characters(last4):
    assert validation.status_proof(last4) == last4
    with pytest.raises(InvalidValue):
        validation.status_proof(last4[1:])  # three characters are not a proof


UNITS = sorted(set(places.township_names().values()))


@given(
    st.sampled_from(UNITS),
    st.sampled_from(["", "住在", "户口在", "我们是", "在 "]),
    st.sampled_from(["", "。", " 哈", "的"]),
)
def test_every_unit_is_read_by_its_full_name(unit, before, after):
    assert places.township(before + unit + after) == unit


@given(st.sampled_from(sorted(places.township_names().items())))
def test_every_spelling_names_its_unit(spelling_and_unit):
    spelling, unit = spelling_and_unit
    assert places.township(spelling) == unit


NAMES = ["王秀英", "李建国", "张德华", "刘淑琴", "陈玉兰"]


@settings(max_examples=60)
@given(
    st.sampled_from(NAMES),
    id_numbers(),
    mobile_numbers(),
    st.sampled_from(UNITS),
    st.permutations([0, 1, 2, 3]),
    st.sampled_from([" ", "，", "。"]),
)
def test_one_message_with_every_value_gives_each_of_them(name, number, phone, unit, order, gap):
    parts = [f"她叫{name}", f"身份证{number}", f"电话{phone}", f"住在{unit}"]
    text = "帮我妈办老年证" + gap + gap.join(parts[i] for i in order)
    slots = ["applicant_name", "id_number", "phone", "township"]
    found = reading.values_in(text, slots)
    assert validation.person_name(found["applicant_name"]) == name
    assert validation.id_number(found["id_number"]) == number
    assert validation.mobile_phone(found["phone"]) == phone
    assert places.township(found["township"]) == unit
