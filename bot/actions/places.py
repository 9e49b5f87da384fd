"""Reading the answer to "which township?": the unit (街道 or 镇) of 大安区 it names.

The units, their short forms and old names come from bot/data/core/townships.yml, the
list the NLU model is trained on; places outside the district and old names with no
confirmed successor come from bot/lexicon/places.yml. `township` returns the unit's
full name or raises `InvalidValue` with one of these reasons:

- "village": a village, community or group (…村, …社区, …组, 村里), or an old name with
  no confirmed successor, but no unit: ask which 镇 or 街道 it belongs to.
- "outside_district": a place outside 大安区 (自流井区, 富顺县, 成都 …).
- "district_only": only the district itself (大安区), no unit.
- "unknown_township": nothing usable.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import yaml

from bot.actions.validation import InvalidValue

BOT = Path(__file__).resolve().parents[1]
TOWNSHIPS_FILE = BOT / "data" / "core" / "townships.yml"
PLACES_FILE = BOT / "lexicon" / "places.yml"
HAN = "一-龥"
UNIT_SUFFIXES = ("街道", "镇", "乡")
# The district itself: 大安区, or 大安 right after 自贡 (自贡大安, 自贡市大安).
DISTRICT = re.compile(r"大安区|(?<=自贡)大安(?!街道)|(?<=自贡市)大安(?!街道)")
# What turns a short form into the start of a village's name: 团结村, 新民社区, 回龙三组.
# At most one more character, and not a word like 的 or 那边 (新民那边的村 is in 新民镇).
VILLAGE_AFTER_NAME = re.compile(
    rf"(?:(?![的边里那这在])[{HAN}])?(?:村|社区|院子|小区|大队)|[0-9一二三四五六七八九十两]+[组社]"
)
# A village, community or group without a unit: 我们村, 村里, 王家院子, 三组, 5社.
VILLAGE = re.compile(r"村|社区|院子|小区|大队|生产队|[0-9一二三四五六七八九十两]+[组社](?![会区])")
# Between an outside place and a unit's name, only more of the address (市, 新都区, 的):
# 富顺县回龙镇 and 成都市新都区新民镇 name places elsewhere that share a unit's name.
ADDRESS_GAP = re.compile(rf"(?:[省市区县州的]|[{HAN}]{{1,4}}?[区县市州])*")
# A unit named only to be denied: 不是牛佛 (是何市).
DENIED = re.compile(r"(?:不是|不在|没在|不住)在?$")
# The application asks for the registered residence (户口): of two units, the one said
# with 户口/户籍 wins over where one lives (「我住在庙坝 户口在新店」, 「新店的户口」).
REGISTERED_BEFORE = re.compile(r"户口|户籍")
REGISTERED_AFTER = re.compile(r"(?:镇|街道)?的(?:户口|户籍)")


@functools.lru_cache(maxsize=1)
def _units() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each unit's full name with its other spellings, in the order of townships.yml."""
    data = yaml.safe_load(TOWNSHIPS_FILE.read_text(encoding="utf-8"))
    units = []
    for block in data["nlu"]:
        if "synonym" in block:
            spellings = tuple(
                line.strip()[2:].strip()
                for line in block["examples"].splitlines()
                if line.strip().startswith("- ")
            )
            units.append((block["synonym"], spellings))
    return tuple(units)


@functools.lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    names: dict[str, str] = {}
    for full, spellings in _units():
        for spelling in (full, *spellings):
            if names.setdefault(spelling, full) != full:
                raise ValueError(f"{TOWNSHIPS_FILE}: {spelling} names two units")
    return names


def township_names() -> dict[str, str]:
    """Every accepted spelling (full name, short form, old name) → the unit's full name."""
    return dict(_names())


def unit_list() -> str:
    """The district's units for prompts: 街道 first, then 镇, joined with 、."""
    units = [full for full, _ in _units()]
    streets = [unit for unit in units if unit.endswith("街道")]
    return "、".join(streets + [unit for unit in units if unit not in streets])


@functools.lru_cache(maxsize=1)
def _other_places() -> dict[str, str]:
    """Spellings of places that are not units → "outside_district" or "village"."""
    data = yaml.safe_load(PLACES_FILE.read_text(encoding="utf-8"))
    places = dict.fromkeys(data["former_names_unmapped"], "village")
    places.update(dict.fromkeys(data["outside_district"], "outside_district"))
    return places


def _pattern(spellings: list[str]) -> re.Pattern[str]:
    """Leftmost match, and the longest spelling at that place (牛佛镇 before 牛佛)."""
    return re.compile("|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True)))


@functools.lru_cache(maxsize=1)
def _unit_pattern() -> re.Pattern[str]:
    return _pattern(list(_names()))


@functools.lru_cache(maxsize=1)
def _other_pattern() -> re.Pattern[str]:
    return _pattern(list(_other_places()))


def _clean(text: str) -> tuple[str, bool]:
    """Full-width forms to ASCII, no spaces (牛 佛 镇), and the district's own name masked
    (so that 大安区 is not read as 大安街道); also whether the district was named."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))
    masked = DISTRICT.sub(lambda match: "_" * len(match.group(0)), text)
    return masked, masked != text


def township(text: str) -> str:
    """The full name of the unit (街道 or 镇) of 大安区 that the text names.

    Short forms and old names count (马冲口 → 马冲口街道, 凤凰乡 → 凤凰街道), and so do
    words around the name (我住在牛佛那边, 凉高山街道办, 户口在新民镇上). When several
    units are named, the one said with 户口/户籍 is taken, else the first one not denied
    (不是牛佛).
    """
    cleaned, district_named = _clean(text)
    others = [
        (match.start(), match.end(), _other_places()[match.group(0)])
        for match in _other_pattern().finditer(cleaned)
    ]
    outside_ends = [end for _, end, kind in others if kind == "outside_district"]
    village_named = False
    named: list[tuple[str, bool]] = []
    previous_end = 0
    for match in _unit_pattern().finditer(cleaned):
        spelling, start, end = match.group(0), match.start(), match.end()
        between, previous_end = cleaned[previous_end:start], end
        if not spelling.endswith(UNIT_SUFFIXES) and VILLAGE_AFTER_NAME.match(cleaned, end):
            village_named = True  # 团结村 is a village, wherever it is
            continue
        if any(ADDRESS_GAP.fullmatch(cleaned, stop, start) for stop in outside_ends):
            continue  # 富顺县回龙镇: a namesake elsewhere
        if DENIED.search(cleaned, 0, start):
            continue
        registered = bool(REGISTERED_BEFORE.search(between) or REGISTERED_AFTER.match(cleaned, end))
        named.append((_names()[spelling], registered))
    if named:
        return next((unit for unit, registered in named if registered), named[0][0])
    kinds = {kind for _, _, kind in others}
    # 我是大安区的, 在成都打工: the district counts more than where they work.
    if "outside_district" in kinds and not district_named:
        raise InvalidValue("outside_district")
    if village_named or "village" in kinds or VILLAGE.search(cleaned):
        raise InvalidValue("village")
    if district_named:
        raise InvalidValue("district_only")
    raise InvalidValue("unknown_township")
