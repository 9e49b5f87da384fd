"""Two places, or a name beside an ID number, in one message (found in a resident trial:
「我住在庙坝 户口在新店」 recorded 庙坝镇; 「唐秀英 身分证…」 asked for the name again)."""

from __future__ import annotations

import pytest

from bot.actions import forms, places
from tests.actions.test_form_reading import FILLED, run, said


@pytest.mark.parametrize(
    "text",
    [
        "我住在庙坝 户口在新店",
        "住庙坝 户口还在新店镇",
        "人在庙坝镇住 户籍是新店的",
        "户口在新店，现在住庙坝",
        "新店的户口 住在庙坝",
        "我们住庙坝那边嘛，户口是新店镇的",
    ],
)
def test_the_registered_township_wins_over_where_one_lives(text):
    assert places.township(text) == "新店镇"


@pytest.mark.parametrize("text", ["我住在庙坝 户口在新店", "住庙坝 户口还在新店镇"])
async def test_the_registered_township_is_recorded_at_the_question_and_the_summary(text):
    asked = said("elderly_card_form", "township", text, **{**FILLED, "township": None})
    slots, _ = await run(forms.ValidateElderlyCardForm(), asked)
    assert slots["township"] == "新店镇"
    summary = said("elderly_card_form", "confirmed", text, "inform", **FILLED)
    slots, _ = await run(forms.ValidateElderlyCardForm(), summary)
    assert slots["township"] == "新店镇"


@pytest.mark.parametrize(
    "text, name, number",
    [
        ("哦那是我儿子的，我的是510304195503120042 名字周永福", "周永福", "510304195503120042"),
        ("唐秀英 身分证510304195808080061", "唐秀英", "510304195808080061"),
        ("唐秀英，身份证号510304195808080061", "唐秀英", "510304195808080061"),
        (
            "我老头儿也要办一个，他叫张德明，身份证510304194801150026，电话跟我一样",
            "张德明",
            "510304194801150026",
        ),
        ("510304196207300019 叫陈国华", "陈国华", "510304196207300019"),
        ("身份证510304196207300019 名字是陈国华哈", "陈国华", "510304196207300019"),
        ("张德明 510304194801150026", "张德明", "510304194801150026"),
    ],
)
async def test_a_name_sent_with_the_id_number_is_taken(text, name, number):
    asked = said("elderly_card_form", "applicant_name", text)
    slots, messages = await run(forms.ValidateElderlyCardForm(), asked)
    assert slots["applicant_name"] == name and slots["id_number"] == number
    assert not messages
