"""Reading the values residents type: known-valid and known-invalid inputs."""

from __future__ import annotations

import datetime

import pytest

from bot.actions import validation
from bot.actions.validation import InvalidValue


@pytest.mark.parametrize(
    "text, expected",
    [
        ("360426199101010071", "360426199101010071"),  # reference file's valid examples
        ("120103198806018241", "120103198806018241"),
        ("51030419520615107x", "51030419520615107X"),  # lowercase x
        ("５１０３０４１９５２０６１５１０７Ｘ", "51030419520615107X"),  # full-width
        ("5103 0419 5206 1510 7X", "51030419520615107X"),  # spaces
        ("我的身份证是360426199101010071哈", "360426199101010071"),
    ],
)
def test_valid_id_numbers_are_normalised(text, expected):
    assert validation.id_number(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("360426199101010072", "checksum"),  # reference file's invalid example
        ("360426910101007", "old_15_digit"),
        ("510304199902300014", "birth_date"),  # 30 February, valid check character
        ("", "format"),
        ("身份证忘了带", "format"),
        pytest.param("1" * 5000, "format", id="very-long"),
    ],
)
def test_invalid_id_numbers_say_why(text, reason):
    with pytest.raises(InvalidValue) as error:
        validation.id_number(text)
    assert error.value.reason == reason


def test_future_birth_dates_are_refused():
    with pytest.raises(InvalidValue):
        validation.id_number("360426199101010071", today=datetime.date(1990, 1, 1))


def test_age_counts_whole_years():
    number = "510304195503120042"
    assert validation.age_on(number, datetime.date(2015, 3, 11)) == 59
    assert validation.age_on(number, datetime.date(2015, 3, 12)) == 60


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "138-1234-5678",
        "１３８１２３４５６７８",
    ],
)
def test_mobile_numbers_in_every_usual_form(text):
    assert validation.mobile_phone(text) == "13812345678"


@pytest.mark.parametrize("text", ["02812345678", "1381234567", "12345", "", "电话没得"])
def test_non_mobile_numbers_are_refused(text):
    with pytest.raises(InvalidValue):
        validation.mobile_phone(text)


@pytest.mark.parametrize(
    "text, township",
    [("牛佛", "牛佛镇"), ("牛佛镇", "牛佛镇"), ("我是永嘉的", "永嘉乡"), ("凤凰乡", "凤凰乡")],
)
def test_townships_accept_short_forms(text, township):
    assert validation.township(text) == township


@pytest.mark.parametrize("text", ["北京", "", "成都市武侯区"])
def test_unknown_townships_are_refused(text):
    with pytest.raises(InvalidValue):
        validation.township(text)


@pytest.mark.parametrize(
    "text, name", [("王秀英", "王秀英"), ("我叫李建国", "李建国"), ("名字是欧阳小明", "欧阳小明")]
)
def test_names(text, name):
    assert validation.person_name(text) == name


@pytest.mark.parametrize(
    "text", ["", "a", "😀😀", "王" * 20, "我不晓得填啥子", "何市", "低保咋个办"]
)
def test_unusable_names_are_refused(text):
    with pytest.raises(InvalidValue):
        validation.person_name(text)


@pytest.mark.parametrize("text, size", [("4", 4), ("五口人", 5), ("屋头十二个人", 12), ("两个", 2)])
def test_household_sizes(text, size):
    assert validation.household_size(text) == size


@pytest.mark.parametrize("text", ["0", "100", "好多人", ""])
def test_unusable_household_sizes(text):
    with pytest.raises(InvalidValue):
        validation.household_size(text)


def test_descriptions_have_limits():
    assert validation.description("墙裂了好几条缝") == "墙裂了好几条缝"
    for text in ["", "漏", "字" * 301]:
        with pytest.raises(InvalidValue):
            validation.description(text)


@pytest.mark.parametrize(
    "text", ["DA202611270001", "da202611270001", "DA-20261127-0001", "查下 da 20261127 0001"]
)
def test_tracking_numbers(text):
    assert validation.tracking_number(text) == "DA202611270001"


def test_status_proof_is_four_id_characters_or_a_mobile_number():
    assert validation.status_proof("107x") == "107X"
    assert validation.status_proof("+86 138 1234 5678") == "13812345678"
    with pytest.raises(InvalidValue):
        validation.status_proof("12")


def test_masks():
    assert validation.mask_id_number("510304195503120042") == "5103**********0042"
    assert validation.mask_phone("13812345678") == "138****5678"
