"""Reading the values residents type: known-valid and known-invalid inputs."""

from __future__ import annotations

import datetime

import pytest

from bot.actions import validation
from bot.actions.validation import InvalidValue
from personaldata.masks import mask_id_number, mask_phone


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
    "text, name",
    [
        ("王秀英", "王秀英"),
        ("我叫李建国", "李建国"),
        ("名字是欧阳小明", "欧阳小明"),
        ("周 素 华", "周素华"),  # typed with spaces
        ("钱小红", "钱小红"),  # 钱 is a surname, not chat
        ("保玉兰", "保玉兰"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("阿依古丽.买买提", "阿依古丽·买买提"),  # any dot
        ("我妈叫王秀英", "王秀英"),
        ("她叫 李 德 明 哈", "李德明"),
        ("名字写错了 应该是刘淑琴", "刘淑琴"),
        ("李小妹", "李小妹"),
    ],
)
def test_names(text, name):
    assert validation.person_name(text) == name


@pytest.mark.parametrize(
    "text",
    [
        "我妈",
        "我老汉儿",
        "隔壁王嬢嬢",
        "我自己",
        "屋头三个人",
        "吴大妈",
        "她叫吴大妈",
        "本人",
        "张阿姨",
    ],
)
def test_relations_and_descriptions_are_not_names(text):
    with pytest.raises(InvalidValue) as error:
        validation.person_name(text)
    assert error.value.reason == "not_a_name"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "😀😀",
        "王" * 20,
        "我不晓得填啥子",
        "低保咋个办",
        "你说啥子",
        "好的",
        "123",
        "一二三",
    ],
)
def test_unusable_names_are_refused(text):
    with pytest.raises(InvalidValue):
        validation.person_name(text)


@pytest.mark.parametrize("text, size", [("4", 4), ("五口人", 5), ("屋头十二个人", 12), ("两个", 2)])
def test_household_sizes(text, size):
    assert validation.household_size(text) == size


@pytest.mark.parametrize("text", ["0", "100", "好多人", "", "-1", "3.5", "五六个"])
def test_unusable_household_sizes(text):
    with pytest.raises(InvalidValue):
        validation.household_size(text)


def test_descriptions_have_limits():
    assert validation.house_condition("墙裂了好几条缝") == "墙裂了好几条缝"
    for text in ["", "漏", "字" * 301]:
        with pytest.raises(InvalidValue):
            validation.house_condition(text)


@pytest.mark.parametrize(
    "text",
    ["你说啥子 我听不懂", "不晓得", "啥意思", "你在说什么", "低保要带啥子", "要填啥子嘛", "没听清"],
)
def test_non_answers_are_not_accounts(text):
    for reader in (validation.house_condition, validation.incident):
        with pytest.raises(InvalidValue) as error:
            reader(text)
        assert error.value.reason == "non_answer"


@pytest.mark.parametrize(
    "reader, text",
    [
        (validation.house_condition, "墙裂了 要不要紧"),  # a question, but about the house
        (validation.house_condition, "屋顶漏雨好几年了"),
        (validation.incident, "屋头遭火烧了 啥子都莫得了"),
        (validation.incident, "我老汉儿突然中风住院了 钱不够"),
    ],
)
def test_accounts_with_question_words_are_kept(reader, text):
    assert reader(text) == text


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
    assert mask_id_number("510304195503120042") == "5103**********0042"
    assert mask_phone("13812345678") == "138****5678"


@pytest.mark.parametrize("text", ["+852 5123 4567", "+1 415 555 0100", "0085251234567"])
def test_a_mobile_number_outside_the_mainland_is_refused_at_the_question(text: str) -> None:
    # The store takes mainland mobiles only: accepted here, the application was refused
    # only at submission, after every other answer.
    with pytest.raises(InvalidValue) as refused:
        validation.mobile_phone(text)
    assert refused.value.reason == "not_mobile"
