"""Reading the answer to "which township?" (bot/actions/places.py) and the data it reads."""

from __future__ import annotations

import pytest
import yaml

from bot.actions import places
from bot.actions.validation import InvalidValue

STREETS = ["大安街道", "龙井街道", "马冲口街道", "凉高山街道", "和平街道", "凤凰街道"]
TOWNS = [
    "大山铺镇",
    "团结镇",
    "三多寨镇",
    "何市镇",
    "新店镇",
    "新民镇",
    "牛佛镇",
    "庙坝镇",
    "回龙镇",
]
UNITS = STREETS + TOWNS
SHORT_FORMS = {
    "大安": "大安街道",
    "龙井": "龙井街道",
    "马冲口": "马冲口街道",
    "凉高山": "凉高山街道",
    "和平": "和平街道",
    "凤凰": "凤凰街道",
    "大山铺": "大山铺镇",
    "团结": "团结镇",
    "三多寨": "三多寨镇",
    "何市": "何市镇",
    "新店": "新店镇",
    "新民": "新民镇",
    "牛佛": "牛佛镇",
    "庙坝": "庙坝镇",
    "回龙": "回龙镇",
}


def reason(text: str) -> str:
    with pytest.raises(InvalidValue) as error:
        places.township(text)
    return error.value.reason


def test_the_district_has_six_streets_and_nine_towns():
    assert set(places.township_names().values()) == set(UNITS)
    assert places.unit_list() == "、".join(UNITS)


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_by_its_full_name(unit):
    assert places.township(unit) == unit


@pytest.mark.parametrize("short, unit", SHORT_FORMS.items())
def test_every_unit_by_its_short_form(short, unit):
    assert places.township(short) == unit
    assert places.township_names()[short] == unit


@pytest.mark.parametrize("short, unit", SHORT_FORMS.items())
@pytest.mark.parametrize(
    "sentence",
    ["我住在{}那边", "我是{}的", "户口在{}", "{}那边的", "我们{}的人", "屋头在{}  "],
)
def test_every_unit_in_a_sentence(short, unit, sentence):
    assert places.township(sentence.format(short)) == unit
    assert places.township(sentence.format(unit)) == unit


@pytest.mark.parametrize(
    "text, unit",
    [
        ("我住在马冲口那边", "马冲口街道"),
        ("凉高山街道办", "凉高山街道"),
        ("户口在新民镇上", "新民镇"),
        ("大山铺镇上", "大山铺镇"),
        ("龙井街道便民服务中心", "龙井街道"),
        ("牛佛便民服务中心", "牛佛镇"),
        ("和平街道办事处", "和平街道"),
        ("牛 佛 镇", "牛佛镇"),
        ("我是大安区牛佛镇的", "牛佛镇"),
        ("自贡市大安区大安街道", "大安街道"),
        ("自贡大安街道", "大安街道"),
        ("四川省自贡市大安区何市镇", "何市镇"),
    ],
)
def test_suffixes_spaces_and_addresses_around_the_name(text, unit):
    assert places.township(text) == unit


@pytest.mark.parametrize(
    "old, unit",
    [
        ("凤凰乡", "凤凰街道"),
        ("凤凰镇", "凤凰街道"),
        ("我是凤凰乡的", "凤凰街道"),
        ("和平乡", "和平街道"),
        ("和平镇", "和平街道"),
        ("以前叫和平乡", "和平街道"),
    ],
)
def test_old_names_map_to_the_unit_that_replaced_them(old, unit):
    assert places.township(old) == unit


def test_the_longest_spelling_wins_and_gives_the_same_unit():
    names = places.township_names()
    assert names["牛佛镇"] == names["牛佛"] == "牛佛镇"
    assert names["凤凰乡"] == names["凤凰"] == names["凤凰街道"] == "凤凰街道"


@pytest.mark.parametrize(
    "text, unit",
    [
        ("团结镇的某某村", "团结镇"),  # the full name: the town
        ("团结镇团结村", "团结镇"),
        ("牛佛镇团结村", "牛佛镇"),  # 团结村 is a village of 牛佛镇 here
        ("何市镇新民村三组", "何市镇"),
        ("回龙镇上的王家院子", "回龙镇"),
        ("我住新民那边的村里", "新民镇"),
        ("凉高山街道的社区", "凉高山街道"),
    ],
)
def test_a_village_with_its_unit_gives_the_unit(text, unit):
    assert places.township(text) == unit


@pytest.mark.parametrize(
    "text",
    [
        "团结村",  # 团结 followed by 村 names a village, not 团结镇
        "新民村",
        "回龙湾村",
        "和平社区",
        "我住马冲口社区",
        "我们村",
        "村里",
        "在村上",
        "王家院子",
        "三组",
        "5社",
        "幸福小区",
        "大安区的某某村",  # the district and a village: still which unit?
    ],
)
def test_a_village_without_its_unit_asks_for_the_unit(text):
    assert reason(text) == "village"


@pytest.mark.parametrize("text", ["永嘉乡", "永嘉", "我是永嘉的"])
def test_an_old_name_with_no_confirmed_successor_asks_for_the_unit(text):
    assert reason(text) == "village"
    assert text not in places.township_names()


@pytest.mark.parametrize(
    "text",
    [
        "自流井区",
        "自流井",
        "贡井区",
        "沿滩区",
        "荣县",
        "富顺县",
        "富顺",
        "成都",
        "成都市武侯区",
        "内江",
        "宜宾",
        "泸州",
        "重庆",
        "我在自流井那边住",
        "富顺县回龙镇",  # a 回龙镇 elsewhere, not ours
        "荣县的新店镇",
        "成都市新都区新民镇",
        "浙江永嘉县",
    ],
)
def test_places_outside_the_district(text):
    assert reason(text) == "outside_district"


@pytest.mark.parametrize(
    "text, unit",
    [
        ("我在成都打工户口在牛佛", "牛佛镇"),
        ("在重庆打工，屋头在凉高山", "凉高山街道"),
        ("以前住自流井，现在搬到马冲口了", "马冲口街道"),
    ],
)
def test_a_unit_named_beside_an_outside_place_still_counts(text, unit):
    assert places.township(text) == unit


@pytest.mark.parametrize("text", ["大安区", "自贡市大安区", "我是大安区的", "自贡大安", "大安区的"])
def test_the_district_alone_is_not_a_unit(text):
    assert reason(text) == "district_only"


def test_the_district_named_with_a_workplace_elsewhere_asks_for_the_unit():
    assert reason("我是大安区的，在成都打工") == "district_only"


@pytest.mark.parametrize(
    "text", ["", "   ", "asdf", "北京天安门广场旁边的那个", "你好", "社保", "自贡", "😀", "12345"]
)
def test_unknown_or_junk(text):
    expected = "outside_district" if "北京" in text else "unknown_township"
    assert reason(text) == expected


def test_a_denied_unit_is_passed_over():
    assert places.township("不是牛佛，是何市") == "何市镇"
    assert reason("不是牛佛") == "unknown_township"


def test_reasons_are_value_errors_with_a_reason():
    with pytest.raises(ValueError):
        places.township("火星")


# The data: one list for the NLU model and the forms, kept in step with the dictionary.


def township_data() -> list[dict]:
    return yaml.safe_load(places.TOWNSHIPS_FILE.read_text(encoding="utf-8"))["nlu"]


def listed(block: dict) -> list[str]:
    return [line[2:] for line in block["examples"].splitlines() if line.startswith("- ")]


def test_the_lookup_table_holds_every_spelling_except_the_bare_district_name():
    lookup = next(block for block in township_data() if block.get("lookup") == "township")
    entries = listed(lookup)
    assert len(entries) == len(set(entries))
    assert set(entries) == set(places.township_names()) - {"大安"}
    # Longer spellings before their short forms, as the lookup regex tries them in order.
    for position, entry in enumerate(entries):
        assert not any(entry in later and entry != later for later in entries[position:])


def test_every_spelling_and_old_name_is_a_word_of_the_user_dictionary():
    path = places.BOT / "data" / "dictionary" / "userdict.txt"
    words = {line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line}
    other = yaml.safe_load(places.PLACES_FILE.read_text(encoding="utf-8"))
    assert set(places.township_names()) <= words
    assert set(other["former_names_unmapped"]) <= words


def test_places_outside_never_share_a_spelling_with_a_unit():
    other = yaml.safe_load(places.PLACES_FILE.read_text(encoding="utf-8"))
    spellings = other["outside_district"] + other["former_names_unmapped"]
    assert len(spellings) == len(set(spellings))
    for spelling in spellings:
        assert not any(name in spelling or spelling in name for name in places.township_names())
