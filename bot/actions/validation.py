"""Reading and checking the values residents type into the application forms.

Pure functions: each takes the raw text and returns a normalised value or raises
`InvalidValue` with the reason, which the form turns into a kind re-prompt.
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import phonenumbers
import yaml
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

LEXICON = Path(__file__).resolve().parents[1] / "lexicon"
CHINESE_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
HAN = "一-龥"
# Dots residents type inside ethnic-minority and transliterated names.
NAME_DOTS = re.compile(r"[•・．.‧⋅·]")
NAME_MARKER = re.compile(
    r"(?:我叫|名字是|名字叫|姓名是|姓名叫|姓名|申请人是|申请人叫|申请人|他叫|她叫|叫做|叫|应该是|改成|改为)"
)
NAME = re.compile(rf"[{HAN}]{{2,5}}|[{HAN}]{{1,10}}(?:·[{HAN}]{{1,10}})+")


class InvalidValue(ValueError):
    """The text is not a usable value; `reason` names what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise_width(text: str) -> str:
    """Full-width digits, letters and punctuation to their ASCII forms."""
    return unicodedata.normalize("NFKC", text or "")


def normalise(text: str) -> str:
    """Full-width digits and letters to ASCII, and no spaces or dashes between them."""
    text = normalise_width(text)
    return re.sub(r"(?<=[0-9A-Za-z])[\s\-－—]+(?=[0-9A-Za-z])", "", text).strip()


def id_number(text: str, today: datetime.date | None = None) -> str:
    """An 18-character resident ID number (GB 11643) with a valid check character.

    stdnum's full validate() also checks that the region code existed in the birth
    year, which rejects real 大安区 (510304, created 1983) numbers of older residents.
    """
    found = re.findall(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9Xx])", normalise(text))
    if not found:
        raise InvalidValue("format")
    number = found[0].upper()
    if len(number) == 15:
        raise InvalidValue("old_15_digit")
    if ric.calc_check_digit(number) != number[-1]:
        raise InvalidValue("checksum")
    try:
        birth = ric.get_birth_date(number)
    except ValidationError as error:
        raise InvalidValue("birth_date") from error
    if not datetime.date(1900, 1, 1) <= birth <= (today or datetime.date.today()):
        raise InvalidValue("birth_date")
    return number


def age_on(number: str, today: datetime.date | None = None) -> int:
    """Whole years of age of the ID number's holder."""
    birth = ric.get_birth_date(number)
    today = today or datetime.date.today()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


# The store and the township staff take mainland numbers only.
MAINLAND_CALLING_CODE = 86


def mobile_phone(text: str) -> str:
    """A mainland mobile number as 11 digits; +86 and spaces are accepted.

    A reply without a digit that talks about the phone (「我没得手机 用我儿子的行不行」)
    is refused with reason "no_number": it needs help, not the format again.
    """
    digits = re.sub(r"[^0-9+]", "", normalise(text))
    if not re.search(r"[0-9]", digits) and talks_about_the_phone(text):
        raise InvalidValue("no_number")
    try:
        parsed = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException as error:
        raise InvalidValue("format") from error
    mobile_types = {phonenumbers.PhoneNumberType.MOBILE}
    if (
        parsed.country_code != MAINLAND_CALLING_CODE
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.number_type(parsed) not in mobile_types
    ):
        raise InvalidValue("not_mobile")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL).replace(
        " ", ""
    )


@functools.lru_cache(maxsize=1)
def lexicon() -> dict:
    """The word lists staff maintain for reading answers (bot/lexicon/words.yml)."""
    return yaml.safe_load((LEXICON / "words.yml").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    lines = (LEXICON / "surnames.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(word for line in lines if not line.startswith("#") for word in line.split())


# Counts inside an account (「住了四十几年」, 「几十年」, 「漏雨好多年了」, 「烂了几块」)
# are not questions; 「要几天」 is.
COUNT = re.compile(
    r"[0-9零一二两三四五六七八九十百好]几|几(?=[十百千])|好多(?=年|天|个月|回|次)|(?<=了)好多"
    r"|(?<=了)几(?=[块处根张间片匹个道条])"
)


def asks_something(text: str) -> bool:
    """A question rather than an answer: a question word, or 「…不」/「…吗」 at the end."""
    words = lexicon()["question_words"]
    text = COUNT.sub(" ", text)
    return any(word in text for word in words) or text.rstrip("？?。！! ").endswith(
        ("不", "吗", "呢", "没得", "没有")
    )


def talks_about_the_phone(text: str) -> bool:
    return any(word in text for word in lexicon()["phone_talk"])


# Parts of a message: a question and an account are often said one after the other.
CLAUSE_BREAK = re.compile(r"[，,。！!？?；;\s]+")
# Spaces and punctuation between words (「哎呀，算了」).
NOT_A_WORD = re.compile(r"[\W_]+")
# Questions about the help itself rather than an account of the situation: how much
# (「能救助好多钱嘛」, 「那个钱一个月有好多」, 「一个月能拿多少钱」) or how long (「要得好久哦」,
# 「补助好久能到账」, 「要等几年哦」). 「花了好多钱」 and 「漏雨好多年了」 are accounts.
HELP_QUESTION = re.compile(
    r"(?:救助|补助|补贴|补|给|发|拿|领|报销|报)\s*(?:好多|多少|几千|几百|几万|几块)"
    r"|(?:钱|救助金|补助|补贴|标准|金额).{0,6}(?:有|是|能|给|发)\s*(?:好多|多少)"
    r"|(?:钱|救助金|补助|补贴).{0,4}多不多"
    r"|(?<![了花用欠借要])(?:好多|多少)钱"
    r"|(?:一个月|每个月|一年|每年|一次|一共)\s*(?:能|可以)?\s*(?:有|给|发|拿|领|补)?\s*(?:好多|多少)"
    r"|(?:要|得|等)\s*(?:好久|多久|多长时间|几年|几个月|几天)"
    r"|(?:好久|多久|几时|啥时候|什么时候)\s*(?:能|才|可以|会)?\s*(?:到|批|下来|拿到|办好|发|有)"
)


def asks_about_the_help(text: str, topic_words: Iterable[str] = ()) -> bool:
    """A question about the help (how much, how long) with no account in it.

    A part of the message that names the topic (「家里失火了 能救助好多钱嘛」) is an
    account, and the whole message is taken as one.
    """
    topic_words = tuple(topic_words)
    asks = False
    for clause in CLAUSE_BREAK.split(normalise_width(text)):
        if HELP_QUESTION.search(clause):
            asks = True
        elif any(word in clause for word in topic_words):
            return False
    return asks


def says_stop(text: str) -> bool:
    return any(word in text for word in lexicon()["stop_words"])


def opens_with_stop(text: str) -> bool:
    """「不办了 我先去镇上问问」, 「那就算了 下次再说」: a stop word opens the message,
    maybe after a lead-in, whatever follows it."""
    words = lexicon()
    openings = tuple(
        lead_in + stop for lead_in in ("", *words["stop_lead_ins"]) for stop in words["stop_words"]
    )
    return NOT_A_WORD.sub("", normalise_width(text)).startswith(openings)


def declines(text: str) -> bool:
    """At an application's summary: a stop word opening the message, or "not now" /
    "don't want to" anywhere in it (「先不交哦 我去村上问下再说」, 「我妈说她不想办了」)."""
    if opens_with_stop(text):
        return True
    words = lexicon()
    text = normalise_width(text)
    for phrase in words["not_declines"]:
        text = text.replace(phrase, " ")
    return any(refuses_with(text, word) for word in words["declines"])


def refuses_with(text: str, word: str) -> bool:
    """The word is said, not asked: 「交不交」, 「想不想办」 ask whether to (the character
    before 不 comes again after it)."""
    negation = word.find("不")
    for match in re.finditer(re.escape(word), text):
        at = match.start() + negation
        asked = negation >= 0 and at > 0 and text[at - 1] == text[at + 1 : at + 2]
        if not asked:
            return True
    return False


def hesitates(text: str) -> bool:
    return any(word in text for word in lexicon()["hesitation"])


def asks_to_withdraw(text: str) -> bool:
    return any(word in text for word in lexicon()["withdraw_words"])


def without_character_hints(text: str) -> str:
    """Text without the way people spell a character aloud: 「桂花的桂」 and 「道德的德」
    are not part of a name. The word before 的 is taken to be two characters, one of
    them the character spelled."""
    index = len(text) - 1
    while index > 1:
        word = max(0, index - 3)
        if text[index - 1] == "的" and text[index] in text[word : index - 1]:
            text = text[:word] + " " + text[index + 1 :]
            index = word
        else:
            index -= 1
    return text.strip()


def name_candidate(text: str) -> str:
    """What follows the last 我叫/名字是/应该是 …, without spaces, with one kind of dot."""
    text = without_character_hints(normalise(text))
    # 周 素 华: single characters typed with spaces are one name.
    text = re.sub(rf"(?<=(?<![{HAN}])[{HAN}])\s+(?=[{HAN}](?![{HAN}]))", "", text)
    text = NAME_DOTS.sub("·", text)
    markers = list(NAME_MARKER.finditer(text))
    if markers:
        text = text[markers[-1].end() :]
    return text.strip(" 　。，,!！~～:：;；、的哈嘛噻")


def person_name(text: str) -> str:
    """A person's name: a known surname and 1–4 more characters, or a name with ·.

    Relations and descriptions (我妈, 吴大妈, 隔壁王嬢嬢, 屋头三个人) and chat are refused
    with reason "not_a_name", anything else unusable with "format".
    """
    candidate = name_candidate(text)
    last_word = candidate.split()[-1] if candidate.split() else ""
    if last_word != candidate and len(last_word) > 1:
        try:
            return person_name(last_word)  # 「刚才都说了嘛 陈玉兰」
        except InvalidValue:
            pass
    candidate = candidate.replace(" ", "")
    words = lexicon()
    if set(words["chat_characters"]) & set(candidate):
        raise InvalidValue("format")
    if any(word in candidate for word in words["not_a_name"]):
        raise InvalidValue("not_a_name")
    if not NAME.fullmatch(candidate):
        raise InvalidValue("format")
    if "·" not in candidate and not (candidate[:1] in surnames() or candidate[:2] in surnames()):
        raise InvalidValue("format")
    if "·" not in candidate and len(candidate) == 5 and candidate[:2] not in surnames():
        raise InvalidValue("format")
    return candidate


def household_size(text: str) -> int:
    """How many people live in the household (1-20), in digits or Chinese numerals."""
    text = normalise(text)
    if asks_about_the_help(text):
        raise InvalidValue("question")  # 「那个钱一个月有好多」: 一 is not one person
    # 「-1」, 「3.5」, 「五六个」: not one clear number of people.
    if re.search(r"-\s*[0-9]|[0-9]\.[0-9]|[一两二三四五六七八九][一两二三四五六七八九]", text):
        raise InvalidValue("format")
    match = re.search(r"[0-9]+", text)
    if match:
        size = int(match.group(0))
    else:
        chinese = re.search(r"[一两二三四五六七八九十]+", text)
        if not chinese:
            raise InvalidValue("format")
        size = chinese_number(chinese.group(0))
    if not 1 <= size <= 20:
        raise InvalidValue("range")
    return size


def chinese_number(numerals: str) -> int:
    """一 … 二十: enough for household sizes."""
    if "十" in numerals:
        tens, _, ones = numerals.partition("十")
        return CHINESE_DIGITS.get(tens, 1) * 10 + CHINESE_DIGITS.get(ones, 0)
    return CHINESE_DIGITS[numerals[0]]


def description(text: str, topic: str, minimum: int = 3, maximum: int = 300) -> str:
    """A free-text account (the house's condition, what happened), within limits.

    Non-answers (听不懂, 你说啥子) and questions that say nothing about `topic`
    ("house" or "incident") are refused, so they never reach an application.
    """
    text = normalise(text)
    words = lexicon()
    about_topic = any(word in text for word in words[f"{topic}_words"])
    # 「不晓得哪天就垮了」 is part of an account: a non-answer is one only off the topic.
    if not about_topic and any(phrase in text for phrase in words["non_answers"]):
        raise InvalidValue("non_answer")
    if asks_about_the_help(text, words[f"{topic}_words"]):
        raise InvalidValue("question")
    if not about_topic and any(word in text for word in words["question_words"]):
        raise InvalidValue("non_answer")
    if len(text) < minimum:
        raise InvalidValue("too_short")
    if len(text) > maximum:
        raise InvalidValue("too_long")
    return text


def house_condition(text: str) -> str:
    return description(text, "house")


def incident(text: str) -> str:
    return description(text, "incident")


def tracking_number(text: str) -> str:
    """DA + 8-digit date + 4-digit sequence; case, spaces and dashes are ignored."""
    match = re.search(r"DA[0-9]{12}", normalise(text).upper())
    if not match:
        raise InvalidValue("format")
    return match.group(0)


# 「电话后四位5678」, 「手机尾号5678」: the store checks a phone number only whole.
PHONE_LAST_FOUR = re.compile(
    r"(?:电话|手机)[^0-9]{0,6}?(?:尾号|尾数|后四位|后4位|末四位|末4位|最后四位|最后4位)"
)
# Four characters on their own (「尾号0042」, 「0042」), not part of a longer number or
# a date (「2026年」).
LAST_FOUR = re.compile(r"(?<![0-9A-Z])[0-9]{3}[0-9X](?![0-9A-Z年月日号])")
MOBILE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86|0086)?1[0-9]{10}(?![0-9])")


def status_proof(text: str) -> str:
    """The last 4 characters of the applicant's ID number, or their mobile number, also
    among words (「尾号0042」, 「电话是138…」).

    The phone's last four are refused with reason "phone_last_four": taken for the ID's
    they would fail, and count as a wrong proof.
    """
    compact = normalise(text).upper()
    if PHONE_LAST_FOUR.search(compact):
        raise InvalidValue("phone_last_four")
    mobile = MOBILE_IN_TEXT.search(compact.replace(" ", ""))
    if mobile:
        return mobile_phone(mobile.group(0))
    last_four = LAST_FOUR.findall(compact)
    if len(last_four) == 1:
        return last_four[0]
    return mobile_phone(compact.replace(" ", ""))
