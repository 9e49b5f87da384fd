"""The edges of the actions' readers that a planted bug would move: the check character
(a wrong final X), birth dates from 1900 to today, digits next to a number, the proof's
four characters, household sizes 1 to 20 and description lengths. Check characters are
worked out by hand (GB 11643: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, sum mod 11
-> 1 0 X 9 8 7 6 5 4 3 2)."""

from __future__ import annotations

import datetime

import pytest

from bot.actions import validation
from bot.actions.validation import InvalidValue

BORN_1966 = "510304196603120028"  # born 12 March 1966, check character 8


def reason(reader, text: str, **options: object) -> str:
    with pytest.raises(InvalidValue) as error:
        reader(text, **options)
    return error.value.reason


@pytest.mark.parametrize(
    "text",
    [
        "51030419621108123X",  # check character 4, not X
        "51030419621108123x",
        "510304195507011020",  # check character X, not 0
        "510304196603120029",
    ],
)
def test_a_wrong_check_character_is_refused(text: str) -> None:
    assert reason(validation.id_number, text) == "checksum"


def test_birth_dates_from_1900_to_today() -> None:
    assert validation.id_number("510304190001010019") == "510304190001010019"
    assert reason(validation.id_number, "510304189912310014") == "birth_date"
    born = datetime.date(1966, 3, 12)
    assert validation.id_number(BORN_1966, today=born) == BORN_1966
    day_before = born - datetime.timedelta(days=1)
    assert reason(validation.id_number, BORN_1966, today=day_before) == "birth_date"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1" + BORN_1966, "format"),  # 19 digits: not an ID number
        (BORN_1966 + "1", "format"),
        (BORN_1966 + "X", "format"),
        (BORN_1966[:17], "format"),
        ("510304660312002", "old_15_digit"),
    ],
)
def test_an_id_number_stands_alone(text: str, why: str) -> None:
    assert reason(validation.id_number, text) == why


def test_the_first_id_number_in_a_message_is_read() -> None:
    text = f"我的是{BORN_1966}，我妈的是51030419550701102X"
    assert validation.id_number(text) == BORN_1966


def test_age_on_29_february() -> None:
    leap = "510304196402290020"  # born 29 February 1964
    assert validation.age_on(leap, datetime.date(2024, 2, 28)) == 59
    assert validation.age_on(leap, datetime.date(2024, 2, 29)) == 60
    assert validation.age_on(leap, datetime.date(2025, 2, 28)) == 60
    assert validation.age_on(leap, datetime.date(2025, 3, 1)) == 61


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "format"),
        ("abc", "format"),
        ("02812345678", "not_mobile"),
        ("1381234567", "not_mobile"),
    ],
)
def test_why_a_phone_number_is_refused(text: str, why: str) -> None:
    assert reason(validation.mobile_phone, text) == why


@pytest.mark.parametrize(
    ("text", "proof"),
    [("1234", "1234"), ("123x", "123X"), (" 1 2 3 x", "123X"), ("１２３Ｘ", "123X")],
)
def test_the_proof_is_the_last_four_characters(text: str, proof: str) -> None:
    assert validation.status_proof(text) == proof


@pytest.mark.parametrize("text", ["123", "12345", "X123", "12X4", "1234X"])
def test_other_short_proofs_are_refused(text: str) -> None:
    assert reason(validation.status_proof, text) == "not_mobile"


@pytest.mark.parametrize(
    ("text", "size"),
    [("1", 1), ("20", 20), ("十", 10), ("十一个", 11), ("二十", 20), ("两口人", 2), ("一", 1)],
)
def test_household_sizes_from_1_to_20(text: str, size: int) -> None:
    assert validation.household_size(text) == size


# Every Chinese numeral, written out: 「屋头三个人」 … 「九口人」, and in the tens.
@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("屋头三个人", 3),
        ("四口人", 4),
        ("五个", 5),
        ("六口人", 6),
        ("七个人", 7),
        ("八口", 8),
        ("九个人", 9),
        ("十九口", 19),
        ("二十口", 20),
    ],
)
def test_each_chinese_numeral_counts_its_people(text: str, size: int) -> None:
    assert validation.household_size(text) == size


@pytest.mark.parametrize("text", ["王XX", "李ab", "张3"])
def test_names_are_chinese_characters_only(text: str) -> None:
    assert reason(validation.person_name, text) == "format"


def test_word_lists_are_read_once() -> None:
    # Read on every message of every resident otherwise.
    assert validation.lexicon() is validation.lexicon()
    assert validation.surnames() is validation.surnames()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0", "range"),
        ("21", "range"),
        ("二十一", "range"),
        ("-1", "format"),
        ("- 2", "format"),
        ("3.5", "format"),
        ("五六个", "format"),
        ("好多", "format"),
    ],
)
def test_unusable_household_sizes_say_why(text: str, why: str) -> None:
    assert reason(validation.household_size, text) == why


def test_descriptions_from_3_to_300_characters() -> None:
    assert validation.house_condition("墙裂了") == "墙裂了"
    assert validation.incident("火" * 300) == "火" * 300
    assert reason(validation.house_condition, "墙裂") == "too_short"
    assert reason(validation.incident, "火" * 301) == "too_long"
    assert validation.description("墙 裂了", "house", minimum=4, maximum=4) == "墙 裂了"


@pytest.mark.parametrize("text", ["DA20261127000", "DB202611270001", "DA2026112700a1"])
def test_malformed_tracking_numbers(text: str) -> None:
    assert reason(validation.tracking_number, text) == "format"


def test_normalise_joins_digits_and_letters_only() -> None:
    assert validation.normalise(" １３８ 1234－5678 ") == "13812345678"
    assert validation.normalise("王 秀英") == "王 秀英"
    assert validation.normalise(None) == ""


def test_spelled_characters_are_not_names() -> None:
    assert validation.without_character_hints("桂花的桂") == ""
    assert validation.name_candidate("我叫桂花的桂 王桂芳") == "王桂芳"
    assert validation.name_candidate("我叫 周 素 华 哈") == "周素华"


@pytest.mark.parametrize(
    "text", ["那我妈呢", "有补助没得", "你们那儿有没有", "我这种能办不", "那我妈呢。", "能办不！"]
)
def test_a_question_by_its_ending(text: str) -> None:
    assert validation.asks_something(text) is True


@pytest.mark.parametrize("text", ["我叫王秀英", "屋头三个人", "13812345678"])
def test_an_answer_is_not_a_question(text: str) -> None:
    assert validation.asks_something(text) is False


@pytest.mark.parametrize("text", ["一个月能有好多", "每年可以领多少", "能救助好多钱嘛"])
def test_a_question_about_the_help(text: str) -> None:
    assert validation.asks_about_the_help(text, ("房子", "失火")) is True


@pytest.mark.parametrize("text", ["房子漏雨了", "家里失火了 能救助好多钱嘛", "我叫王秀英"])
def test_an_account_is_not_a_question_about_the_help(text: str) -> None:
    assert validation.asks_about_the_help(text, ("房子", "失火")) is False


@pytest.mark.parametrize(
    ("text", "stop", "hesitate"),
    [("算了不办了", True, False), ("我再想想", False, True), ("王秀英", False, False)],
)
def test_stopping_and_hesitating(text: str, stop: bool, hesitate: bool) -> None:
    assert validation.says_stop(text) is stop
    assert validation.hesitates(text) is hesitate


@pytest.mark.parametrize(
    "text",
    [
        "电话：138-1234-5678。",
        "是13812345678哈",
        "手机 +86 138 1234 5678",
        "我儿子的手机13812345678",
    ],
)
def test_a_mobile_number_among_words(text: str) -> None:
    assert validation.mobile_phone(text) == "13812345678"


@pytest.mark.parametrize(
    "text", ["土墙房子住了四十几年", "漏了好多年了", "几十年的老房子", "掉了好多", "楼板烂了几块"]
)
def test_a_count_in_an_account_is_not_a_question(text: str) -> None:
    assert validation.asks_something(text) is False


@pytest.mark.parametrize("text", ["要几天嘛", "能补几块钱", "要等几个月"])
def test_a_count_asked_for_is_a_question(text: str) -> None:
    assert validation.asks_something(text) is True


@pytest.mark.parametrize(
    "text", ["电话后四位5678", "手机尾号5678", "我手机的最后4位是5678", "电话号码末四位5678"]
)
def test_the_phones_last_four_are_not_a_proof(text: str) -> None:
    assert reason(validation.status_proof, text) == "phone_last_four"


@pytest.mark.parametrize(
    ("text", "proof"),
    [
        ("我的电话是13812345678哈", "13812345678"),
        ("手机 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("身份证后四位是0042", "0042"),
        ("尾号004X", "004X"),
        ("138 1234 5678", "13812345678"),
    ],
)
def test_a_proof_among_words(text: str, proof: str) -> None:
    assert validation.status_proof(text) == proof


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("桂花的桂", ""),
        ("王桂兰 桂花的桂", "王桂兰"),
        ("李淑琴 淑女的淑 钢琴的琴", "李淑琴"),
        ("张德明 道德的德", "张德明"),
        ("陈玉兰", "陈玉兰"),
    ],
)
def test_spelling_a_character_aloud_is_not_part_of_the_name(text: str, kept: str) -> None:
    assert validation.without_character_hints(text).split() == ([kept] if kept else [])


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("刚才都说了嘛 陈玉兰", "陈玉兰"),
        ("我叫 周 素 华", "周素华"),
        ("阿依·木呷", "阿依·木呷"),
        ("欧阳秀英", "欧阳秀英"),
        ("司马光明", "司马光明"),
        ("名字是王秀英哈", "王秀英"),
        # Found writing these tests: the spelled word's first character stayed (张德明道).
        ("张德明 道德的德", "张德明"),
        ("刚才说了嘛 王芳", "王芳"),
        ("王 秀英", "王秀英"),
        # A compound surname whose first character is no surname on its own.
        ("上官婉儿", "上官婉儿"),
        ("上官婉儿红", "上官婉儿红"),
        # A name with · needs no known surname.
        ("努尔·阿不都", "努尔·阿不都"),
        ("我叫李淑琴 淑女的淑 钢琴的琴", "李淑琴"),
    ],
)
def test_names_as_residents_write_them(text: str, name: str) -> None:
    assert validation.person_name(text) == name


@pytest.mark.parametrize("text", ["王大大大大", "王", "王XX", "努尔阿不都"])
def test_not_names(text: str) -> None:
    assert reason(validation.person_name, text) == "format"


@pytest.mark.parametrize("text", ["一个人住在山上", "年纪大了没人管"])
def test_an_account_naming_no_house_word_is_still_taken(text: str) -> None:
    assert validation.house_condition(text) == text
