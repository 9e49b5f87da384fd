"""Finding every value a resident's message holds, for the application forms.

Residents write several facts at once (「帮我妈办老年证 她叫王秀英 身份证… 电话… 住在牛佛」)
and correct a summary in their own words (「不对 是5个人」). `values_in` returns the raw
text of each value it finds, by slot; the form checks each one with its reader in
`validation` (and `places`) and asks only for what is still missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import takewhile

from bot.actions import places, validation
from bot.actions.validation import HAN, InvalidValue, lexicon

# Groups of digits residents separate with spaces or dashes (「138 1234 5678」).
DIGIT_RUN = re.compile(r"(?:(?:\+|00)?86[\s\-]*)?[0-9Xx]+(?:[\s\-]+[0-9Xx]+)*")
NAME_AFTER_MARKER = re.compile(
    rf"(?:我叫|她叫|他叫|名字是|名字叫|名字(?![应是叫也写错不改那的])|姓名是|姓名叫|姓名|申请人是|申请人叫|应该是|改成|改为|叫)\s*"
    rf"([{HAN}](?:\s?[{HAN}·]){{1,9}})"
)
# Words that end a name written without a pause (「我叫李德明身份证…」).
AFTER_NAME = re.compile(r"身份证|电话|手机|号码|住在|家住|住|户口|今年|不是|是|在|的|和|，|,|。")
HOUSEHOLD = re.compile(r"([0-9]{1,2}|[一二两三四五六七八九十]{1,3})\s*(?:口人|个人|口|人)")
# A place named in passing counts only when it reads as one: its full name, or a short
# form after 住在/户口在/… (「王新民」 is a name, not 新民镇).
PLACE_MARKER = re.compile(r"(?:住在|家住|住|户口在|户口|户籍在|在|是|属于|来自)$")
# A tracking number as typed: 「DA202612010007」, 「da-20261201-0007」, 「DA 2026 1201 0007」.
TRACKING_NUMBER = re.compile(r"DA(?:[\s\-]*[0-9]){12}(?![0-9])", re.IGNORECASE)


def digit_groups(text: str) -> list[str]:
    """Numbers in the text, joining groups only as far as they make an ID or a phone."""
    found = []
    for run in DIGIT_RUN.finditer(validation.normalise_width(text)):
        groups = re.split(r"[\s\-]+", run.group(0))
        start = 0
        while start < len(groups):
            end = longest_number(groups, start)
            found.append("".join(groups[start:end]))
            start = end
    return found


def longest_number(groups: list[str], start: int) -> int:
    """The end of the longest run of groups from `start` that reads as an ID or phone."""
    for end in range(len(groups), start, -1):
        joined = "".join(groups[start:end])
        if looks_like_id(joined) or looks_like_phone(joined):
            return end
    return start + 1


def looks_like_id(number: str) -> bool:
    # Region codes start with 1–8: 「0086 139 …」 is a phone number, not an old ID.
    return bool(re.fullmatch(r"[1-8][0-9]{16}[0-9Xx]|[1-8][0-9]{14}", number))


def looks_like_phone(number: str) -> bool:
    return bool(re.fullmatch(r"(?:\+?86|0086)?1[0-9]{10}", number))


def name_in(text: str) -> str | None:
    """A name given after 我叫/她叫/应该是 …, if it reads as a name."""
    match = NAME_AFTER_MARKER.search(validation.without_character_hints(text))
    if not match:
        return None
    words = AFTER_NAME.split(match.group(1), maxsplit=1)[0].split()
    # 「周 素 华」 is one name typed with spaces; in 「陈玉兰 我是说的…」 it ends at the space.
    name = words[0] if len(words[0]) > 1 else "".join(takewhile(lambda w: len(w) == 1, words))
    try:
        return validation.person_name(name)
    except InvalidValue:
        return None


# What stands between a name and the ID number or phone sent with it (「唐秀英 身分证…」,
# 身分证 being a common typo of 身份证).
BESIDE_NUMBER = re.compile(r"[\s，,。:：;；、]+|身份证号?|身分证号?|证号|号码|电话|手机|是")


def name_beside_number(text: str, numbers: Iterable[str]) -> str | None:
    """A name sent next to an ID number or a phone, with no 我叫 before it."""
    rest = validation.normalise_width(text)
    for number in numbers:
        rest = rest.replace(number, " ")
    return first_name(BESIDE_NUMBER.split(DIGIT_RUN.sub(" ", rest)))


def first_name(pieces: Iterable[str]) -> str | None:
    """The first piece that is a person's name (a township's name is not one)."""
    for piece in pieces:
        try:
            name = validation.person_name(piece)
        except InvalidValue:
            continue
        if name not in places.township_names():
            return name
    return None


def place_in(text: str) -> str | None:
    """The unit named in the text, if it is clearly named as a place.

    `places.township` decides what the text names (大安区 is the district, 团结村 a
    village, 富顺县回龙镇 another county's town); it is asked only when a spelling
    appears as a full name or after 住在/户口在/…, so 王新民 is not 新民镇.
    """
    names = places.township_names()
    for spelling in sorted(names, key=len, reverse=True):
        position = text.find(spelling)
        if position < 0:
            continue
        full_name = spelling == names[spelling] or spelling.endswith(("镇", "街道", "乡"))
        if full_name or PLACE_MARKER.search(text[:position]):
            try:
                return places.township(text)
            except InvalidValue:
                return None
    return None


def household_in(text: str) -> str | None:
    match = HOUSEHOLD.search(text)
    return match.group(0) if match else None


# The field label before a free-text account (「房屋情况：」, 「房子的情况是」, 「房子是」,
# 「困难是」): everything after it is the account, commas included.
ACCOUNT_LABEL = re.compile(
    r"^(?:(?:房子|房屋|住房)的?(?:情况|状况)|(?:房子|房屋)(?=\s*(?:是|也是|[:：]))"
    r"|(?:遇到的)?困难(?:情况)?|情况|遇到的事情?)"
)
# What says the account is wrong or what it should be: 「不对，」, 「写错了 应该是」.
CORRECTION_OPENING = re.compile(
    r"^(?:[\s，,。:：]*(?:不对|错了|搞错了|写错了|也错了|改一下|应该是|也是|是|改成|改为)[，,。\s]*)+"
)


def addition_pattern(at_end: bool) -> re.Pattern[str]:
    """The words that mark an addition, at the start or the end of the message."""
    words = "|".join(map(re.escape, lexicon()["addition_words"]))
    if at_end:
        return re.compile(
            rf"[，,。\s]*(?:帮我|给我)?(?:也|再|都)?(?:{words})(?:上去|进去|上|去)?"
            r"(?:一下|一哈)?[嘛噻哈吧]?[。！!\s]*$"
        )
    return re.compile(
        rf"^(?:{words})(?:一下|一哈|一句|一点|一条)?(?:就是|的是)?[嘛噻哈]?[：:，,。\s]*"
    )


def without_addition_words(text: str) -> str:
    return addition_pattern(at_end=True).sub("", addition_pattern(at_end=False).sub("", text))


def adds_to_account(text: str) -> bool:
    """「还有厨房也垮了 加上」 and 「房子还有个问题 …」 add to the account; 「写错了 应该是…」
    replaces it."""
    words = lexicon()
    if any(word in text for word in words["correction_words"]):
        return False
    return any(word in text for word in words["addition_words"])


def marked_as_a_change(text: str) -> bool:
    """「不对 …」, 「写错了 …」, 「还有 …」: the message says it corrects or adds."""
    words = lexicon()
    return any(word in text for word in (*words["correction_words"], *words["addition_words"]))


def labelled_account(text: str, slots: Iterable[str]) -> dict[str, str]:
    """The whole account after its field label (「房屋情况：土墙房子，后墙裂了」)."""
    label = ACCOUNT_LABEL.match(text.strip())
    account_slots = [slot for slot in ("house_condition", "incident") if slot in slots]
    if not label or not account_slots:
        return {}
    account = free_text_correction(text, account_slots[0])
    return {account_slots[0]: account} if account else {}


def free_text_correction(text: str, slot: str) -> str | None:
    """The new account in 「房子是墙裂了 不是漏雨」 (the part before 不是), if on topic."""
    words = lexicon()
    topic_words = words["house_words" if slot == "house_condition" else "incident_words"]
    kept = re.split(r"[，,。\s]*不是", text)[0] if not text.startswith("不是") else text
    kept = CORRECTION_OPENING.sub("", kept.strip())
    kept = ACCOUNT_LABEL.sub("", kept)
    kept = CORRECTION_OPENING.sub("", kept)
    kept = without_addition_words(kept).strip(" ，,。:：")
    if len(kept) >= 2 and any(word in kept for word in topic_words):
        return kept
    return None


def values_in(text: str, slots: Iterable[str], at_summary: bool = False) -> dict[str, str]:
    """Raw values for any of `slots` the message clearly holds."""
    slots = set(slots)
    if at_summary and labelled_account(text, slots):
        return labelled_account(text, slots)  # a place or a number in it is the story's
    found: dict[str, str] = {}
    for number in digit_groups(text):
        if looks_like_phone(number) and "phone" in slots:
            found.setdefault("phone", number)
        elif looks_like_id(number) and "id_number" in slots:
            found.setdefault("id_number", number)
    name = name_in(text)
    if not name and not at_summary and found:
        name = name_beside_number(text, found.values())
    if name and "applicant_name" in slots:
        found["applicant_name"] = name
    without_name = text.replace(name, "") if name else text
    place = place_in(without_name)
    if place and "township" in slots:
        found["township"] = place
    size = household_in(text)
    if size and "household_size" in slots:
        found["household_size"] = size
    # A question at the summary (「火灾证明在哪儿开嘛」) is not a new account.
    if at_summary and not found and not validation.asks_something(text):
        for slot in ("house_condition", "incident"):
            account = free_text_correction(text, slot) if slot in slots else None
            if slot in slots and not account and adds_to_account(text):
                # Something added at the summary of a form with an account is more of
                # the account, whatever it names (「补充一下，楼板也烂了几块」).
                account = without_addition_words(text).strip(" ，,。:：") or None
            if account:
                found[slot] = account
    return found


# In the name's part of a correction, what separates the new name from the rest:
# 「名字也错了叫李秀英」, 「姓名写错了哈，是李秀英噻」, 「名字那个字也错了，李秀英」.
NAME_PIECES = re.compile(
    r"[\s，,。:：；;！!、]+|名字|姓名|应该是|应该叫|改成|改为|写成|就是|叫做|是|叫|喊"
)
# 「名字不是王秀英 是李秀英」: the name after 不是 is the wrong one.
NOT_THIS_NAME = re.compile(rf"不是\s*[{HAN}]{{2,4}}")
# A field named only to be joined to the next one: 「电话和名字都错了」, 「名字、电话都不对」.
JOINED_TO_NEXT = re.compile(r"[\s、，,]*(?:和|跟|还有|与|同|以及)?[\s、，,]*")


@dataclass
class Correction:
    """What a correction at the summary changes: new values, and fields to ask again."""

    values: dict[str, str] = field(default_factory=dict)
    asked_again: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FieldClause:
    """The part of a correction about one field, from its name to the next field's."""

    slot: str
    text: str
    said_wrong: bool


def field_mentions(text: str, slots: Iterable[str]) -> list[tuple[int, int, str]]:
    """Where the text names a field (电话, 名字 …): start, end and slot, in order.

    Longer words are taken first, so 身份证号 is one mention, not 身份证 and 证号.
    """
    words = lexicon()["field_words"]
    candidates = sorted(
        ((word, slot) for slot in slots for word in words.get(slot, ())),
        key=lambda candidate: len(candidate[0]),
        reverse=True,
    )
    taken: list[tuple[int, int, str]] = []
    for word, slot in candidates:
        for match in re.finditer(re.escape(word), text):
            if not any(start < match.end() and match.start() < end for start, end, _ in taken):
                taken.append((match.start(), match.end(), slot))
    return sorted(taken)


def field_clauses(text: str, slots: Iterable[str]) -> list[FieldClause]:
    """Each field a correction names, with its part of the message.

    A part is said wrong when it holds a correction word (「名字也错了」), when the words
    before the first field do (「不对，电话」), or when it only joins its field to the
    next part (「电话和名字都错了」).
    """
    mentions = field_mentions(text, slots)
    correction_words = lexicon()["correction_words"]
    clauses: list[FieldClause] = []
    said_wrong_next = False
    for index in reversed(range(len(mentions))):
        start, end, slot = mentions[index]
        stop = mentions[index + 1][0] if index + 1 < len(mentions) else len(text)
        checked = text[:stop] if index == 0 else text[start:stop]
        if index + 1 < len(mentions) and JOINED_TO_NEXT.fullmatch(text[end:stop]):
            said_wrong = said_wrong_next
        else:
            said_wrong = any(word in checked for word in correction_words)
        clauses.append(FieldClause(slot, text[start:stop], said_wrong))
        said_wrong_next = said_wrong
    return clauses[::-1]


def name_in_correction(text: str) -> str | None:
    """The new name in the name's part of a correction, without 我叫/名字是 before it."""
    return first_name(NAME_PIECES.split(NOT_THIS_NAME.sub(" ", text)))


def value_in_clause(clause: FieldClause) -> str | None:
    """The new value a clause gives for its field, if it gives one."""
    if clause.slot == "applicant_name":
        return name_in(clause.text) or name_in_correction(clause.text)
    return values_in(clause.text, [clause.slot], at_summary=True).get(clause.slot)


def correction_in(text: str, slots: Iterable[str]) -> Correction:
    """Every field a correction at the summary changes or says is wrong.

    「电话不对 是139… 名字也错了叫李秀英」 changes both; in 「电话不对 是139… 名字也写错了」
    the name is asked again; 「名字是对的」 leaves the name alone.
    """
    slots = list(slots)
    correction = Correction(values=values_in(text, slots, at_summary=True))
    for clause in field_clauses(text, slots):
        if clause.slot in correction.values:
            continue
        value = value_in_clause(clause)
        if value:
            correction.values[clause.slot] = value
        elif clause.said_wrong and clause.slot not in correction.asked_again:
            correction.asked_again.append(clause.slot)
    correction.asked_again = [
        slot for slot in correction.asked_again if slot not in correction.values
    ]
    return correction


def lookup_values_in(text: str) -> dict[str, str]:
    """The tracking number and the proof a status question holds, as typed.

    「查下DA… 尾号0042」 holds both; the proof is the rest of the message, which
    `validation.status_proof` reads (and refuses the phone's last four with a reason).
    """
    text = validation.normalise_width(text)
    found: dict[str, str] = {}
    number = TRACKING_NUMBER.search(text)
    rest = text
    if number:
        found["tracking_number"] = number.group(0)
        rest = f"{text[: number.start()]} {text[number.end() :]}"
    try:
        validation.status_proof(rest)
        found["status_proof"] = rest
    except InvalidValue as error:
        if error.reason == "phone_last_four":
            found["status_proof"] = rest
    return found
