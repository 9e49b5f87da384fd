"""Free-text accounts (the house's condition, what happened) at the summary: an addition
is appended, a correction replaces, and a labelled account is kept whole (found in a
resident trial: 「还有厨房那边也垮了一角 加上」 replaced the description, 「房屋情况：…」
was saved as 「情况:土墙」)."""

from __future__ import annotations

import pytest

from bot.actions import forms, validation
from tests.actions.test_form_reading import FILLED, run, said

HOUSE = "土墙房子 住了四十几年了 后墙裂了好宽的缝 下雨屋顶漏"
INCIDENT = "屋头遭火烧了 厨房烧没了"


def at_summary(form: str, text: str, **slots: object):
    return said(form, "confirmed", text, "inform", **FILLED, **slots)


@pytest.mark.parametrize(
    "text, added",
    [
        ("还有厨房那边也垮了一角 加上", "厨房那边也垮了一角"),
        ("另外，灶屋的瓦也掉了好多", "灶屋的瓦也掉了好多"),
        ("补充一下：猪圈的墙也倒了", "猪圈的墙也倒了"),
        ("还有嘛 地基也往下沉了 帮我加上去", "地基也往下沉了"),
    ],
)
async def test_an_addition_to_the_house_account_is_appended(text, added):
    slots, _ = await run(
        forms.ValidateHousingForm(), at_summary("housing_form", text, house_condition=HOUSE)
    )
    assert slots["house_condition"].startswith(HOUSE)
    assert slots["house_condition"].endswith(added)


# Found again with other words: an addition not naming the house was dropped, and
# one with 还有 in its middle replaced the account.
@pytest.mark.parametrize(
    "text, added",
    [
        ("还有就是楼板也烂了几块，娃娃上去都怕", "楼板也烂了几块,娃娃上去都怕"),
        ("补充一下，楼板也烂了几块", "楼板也烂了几块"),
        ("房子还有个问题 后面堡坎垮了一截", "房子还有个问题 后面堡坎垮了一截"),
        ("忘了说 檩子也朽了", "檩子也朽了"),
    ],
)
async def test_an_addition_in_any_words_is_appended(text, added):
    slots, messages = await run(
        forms.ValidateHousingForm(), at_summary("housing_form", text, house_condition=HOUSE)
    )
    assert slots["house_condition"].startswith(HOUSE)
    assert slots["house_condition"].endswith(added)
    assert not any("正确的内容" in message for message in messages)


@pytest.mark.parametrize(
    "text, added",
    [
        ("还有我老伴也住院了 加上", "我老伴也住院了"),
        ("另外 家里的粮食也烧没了", "家里的粮食也烧没了"),
    ],
)
async def test_an_addition_to_the_incident_is_appended(text, added):
    slots, _ = await run(
        forms.ValidateReliefForm(), at_summary("relief_form", text, incident=INCIDENT)
    )
    assert slots["incident"].startswith(INCIDENT) and slots["incident"].endswith(added)


@pytest.mark.parametrize(
    "text, account",
    [
        ("房子情况写错了 应该是屋顶垮了一半", "屋顶垮了一半"),
        ("房屋情况不对，是墙歪了 快倒了", "墙歪了 快倒了"),
        ("不对 房子是堡坎垮了", "堡坎垮了"),
    ],
)
async def test_a_correction_of_the_account_replaces_it(text, account):
    slots, _ = await run(
        forms.ValidateHousingForm(), at_summary("housing_form", text, house_condition=HOUSE)
    )
    assert slots["house_condition"] == account


@pytest.mark.parametrize(
    "text, account",
    [
        (
            "房屋情况：土墙房子住了四十几年，后墙裂了好宽的缝，下雨屋顶漏，厨房垮了一角",
            "土墙房子住了四十几年，后墙裂了好宽的缝，下雨屋顶漏，厨房垮了一角",
        ),
        (
            "房子是土墙房子住了四十几年后墙裂了好宽的缝下雨屋顶漏厨房垮了一角",
            "土墙房子住了四十几年后墙裂了好宽的缝下雨屋顶漏厨房垮了一角",
        ),
        (
            "房子的情况是：老房子住了十几年了，墙裂了，镇上来看过，屋顶也漏",
            "老房子住了十几年了，墙裂了，镇上来看过，屋顶也漏",
        ),
        (
            "房屋情况 瓦房好多年了，梁都歪了，住在牛佛镇那边的老屋",
            "瓦房好多年了，梁都歪了，住在牛佛镇那边的老屋",
        ),
    ],
)
async def test_a_labelled_account_is_kept_whole(text, account):
    slots, _ = await run(
        forms.ValidateHousingForm(), at_summary("housing_form", text, house_condition=HOUSE)
    )
    # Full-width punctuation is kept as its ASCII form, like every account.
    assert slots["house_condition"] == validation.normalise(account)
    assert "township" not in slots


@pytest.mark.parametrize(
    "text",
    [
        "房子是土墙房子住了四十几年后墙裂了好宽的缝下雨屋顶漏厨房垮了一角",
        "土墙房子住了几十年了墙裂了不晓得哪天就垮了",
        "房子漏雨好多年了 我也不清楚咋个修",
    ],
)
def test_a_real_account_of_a_house_is_never_refused(text):
    assert validation.house_condition(text)


@pytest.mark.parametrize("text", ["住了四十几年了", "漏雨好多年了", "好几个月了"])
def test_a_count_is_not_a_question(text):
    assert validation.asks_something(text) is False
