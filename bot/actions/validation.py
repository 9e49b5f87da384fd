"""Reading and checking the values residents type into the application forms.

Pure functions: each takes the raw text and returns a normalised value or raises
`InvalidValue` with the reason, which the form turns into a kind re-prompt.
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from pathlib import Path

import phonenumbers
import yaml
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

TOWNSHIPS_FILE = Path(__file__).resolve().parents[1] / "data" / "core" / "townships.yml"
CHINESE_DIGITS = dict(
    zip("一二两三四五六七八九十", (1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10), strict=True)
)
NAME = re.compile(r"[一-龥][一-龥·]{1,5}")
# Characters that turn up in questions and chat but not in names.
NOT_IN_NAMES = set("咋啥么吗呢吧嘛怎哪谁几了的是在有没不要办请问证保钱")
NAME_PREFIX = re.compile(r"^(?:我叫|名字是|名字叫|姓名是|姓名|申请人是|申请人|他叫|她叫|叫)")


class InvalidValue(ValueError):
    """The text is not a usable value; `reason` names what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise(text: str) -> str:
    """Full-width digits and letters to ASCII, and no spaces or dashes between them."""
    text = unicodedata.normalize("NFKC", text or "")
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


def mobile_phone(text: str) -> str:
    """A mainland mobile number as 11 digits; +86 and spaces are accepted."""
    digits = re.sub(r"[^0-9+]", "", normalise(text))
    try:
        parsed = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException as error:
        raise InvalidValue("format") from error
    mobile_types = {phonenumbers.PhoneNumberType.MOBILE}
    if not phonenumbers.is_valid_number(parsed) or (
        phonenumbers.number_type(parsed) not in mobile_types
    ):
        raise InvalidValue("not_mobile")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL).replace(
        " ", ""
    )


@functools.lru_cache(maxsize=1)
def township_names() -> dict[str, str]:
    """Every accepted spelling (full name and short form) → the full township name."""
    data = yaml.safe_load(TOWNSHIPS_FILE.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for block in data["nlu"]:
        if "synonym" in block:
            names[block["synonym"]] = block["synonym"]
            for line in block["examples"].splitlines():
                if line.strip().startswith("- "):
                    names[line.strip()[2:].strip()] = block["synonym"]
    return names


def township(text: str) -> str:
    """The full name of the district township mentioned in the text."""
    names = township_names()
    # Longest spelling first, so 牛佛镇 wins over 牛佛 and the result is the same.
    for spelling in sorted(names, key=len, reverse=True):
        if spelling in text:
            return names[spelling]
    raise InvalidValue("unknown_township")


def person_name(text: str) -> str:
    """A Chinese name of 2-6 characters, with phrases like 我叫 removed."""
    candidate = NAME_PREFIX.sub("", normalise(text).strip(" 。，,.!！"))
    looks_like_chat = NOT_IN_NAMES & set(candidate) or candidate in township_names()
    if not NAME.fullmatch(candidate) or looks_like_chat:
        raise InvalidValue("format")
    return candidate


def household_size(text: str) -> int:
    """How many people live in the household (1-20), in digits or Chinese numerals."""
    text = normalise(text)
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


def description(text: str, minimum: int = 4, maximum: int = 300) -> str:
    """A free-text account (the house's condition, what happened), within limits."""
    text = normalise(text)
    if len(text) < minimum:
        raise InvalidValue("too_short")
    if len(text) > maximum:
        raise InvalidValue("too_long")
    return text


def tracking_number(text: str) -> str:
    """DA + 8-digit date + 4-digit sequence; case, spaces and dashes are ignored."""
    match = re.search(r"DA[0-9]{12}", normalise(text).upper())
    if not match:
        raise InvalidValue("format")
    return match.group(0)


def status_proof(text: str) -> str:
    """The last 4 characters of the applicant's ID number, or their mobile number."""
    compact = normalise(text).upper().replace(" ", "")
    if re.fullmatch(r"[0-9]{3}[0-9X]", compact):
        return compact
    return mobile_phone(compact)


def mask_id_number(number: str) -> str:
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(number: str) -> str:
    return number[:3] + "****" + number[-4:]
