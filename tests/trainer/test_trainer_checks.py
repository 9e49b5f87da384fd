"""The knowledge base's rules over parsed data: each refuses what breaks it, and only that."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from trainer.checks import (
    MAX_ANSWER_CHARS,
    answer_problems,
    examples_by_label,
    knowledge_base_problems,
    texts_under_several_labels,
    unanswered_labels,
)

TODAY = datetime.date(2026, 12, 1)
NAME = "utter_faq/elderly_card_materials"
TEXT = "带身份证、户口本和一寸照片，到户籍所在镇（街道）便民服务中心办理。"


def answer(text: str | None = TEXT, **changes: Any) -> dict[str, Any]:
    """A sound answer, with some of its metadata changed (None leaves a field out)."""
    metadata = {"title": "老年证要带啥", "source": "省老龄办", "reviewed": "2026-11-30", **changes}
    built: dict[str, Any] = {"metadata": {k: v for k, v in metadata.items() if v is not None}}
    if text is not None:
        built["text"] = text
    return built


def document(
    examples: dict[str, list[str]], responses: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    nlu = [
        {"intent": label, "examples": "".join(f"- {text}\n" for text in texts)}
        for label, texts in examples.items()
    ]
    return {"version": "3.1", "nlu": nlu, "responses": responses}


def test_a_sound_answer_passes():
    assert answer_problems(NAME, answer(), TODAY, MAX_ANSWER_CHARS) == []


def test_an_answer_reviewed_today_and_as_a_yaml_date_passes():
    assert not answer_problems(NAME, answer(reviewed=TODAY), TODAY, MAX_ANSWER_CHARS)


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"title": None}, "没有标题"),
        ({"title": "  "}, "没有标题"),
        ({"source": None}, "没有注明来源"),
        ({"source": ""}, "没有注明来源"),
        ({"reviewed": None}, "没有核对日期"),
        ({"reviewed": "上个月"}, "不是有效日期"),
        ({"reviewed": "2026-12-02"}, "在今天之后"),
        ({"text": "长" * (MAX_ANSWER_CHARS + 1)}, f"超过 {MAX_ANSWER_CHARS} 字"),
        ({"text": ""}, "答案是空的"),
        ({"text": None}, "答案是空的"),
    ],
)
def test_an_answer_breaking_a_rule_is_refused_with_the_reason(changes, problem):
    problems = answer_problems(NAME, answer(**changes), TODAY, MAX_ANSWER_CHARS)
    assert len(problems) == 1
    assert problems[0].startswith(NAME) and problem in problems[0]


def test_an_answer_of_exactly_the_limit_passes():
    assert not answer_problems(NAME, answer(text="长" * MAX_ANSWER_CHARS), TODAY, MAX_ANSWER_CHARS)


def test_a_topic_with_examples_needs_its_answer():
    examples = {"faq/elderly_card_materials": ["老年证要带啥子"], "greet": ["你好"]}
    assert unanswered_labels(examples, {}) == ["faq/elderly_card_materials"]
    assert unanswered_labels(examples, {NAME: [answer()]}) == []


def test_a_referral_topic_needs_its_answer_too():
    examples = {"out_of_scope/electricity": ["电费咋个交"]}
    assert unanswered_labels(examples, {}) == ["out_of_scope/electricity"]
    referral = {"utter_out_of_scope/electricity": [answer()]}
    assert unanswered_labels(examples, referral) == []


def test_an_example_under_two_labels_is_found_whatever_its_annotations():
    examples = {
        "faq/elderly_card_materials": ["[老年证](service)要带啥子"],
        "faq/elderly_card_eligibility": ["老年证要带啥子", "好多岁能办老年证"],
    }
    assert texts_under_several_labels(examples) == {
        "老年证要带啥子": ["faq/elderly_card_eligibility", "faq/elderly_card_materials"]
    }
    del examples["faq/elderly_card_materials"]
    assert texts_under_several_labels(examples) == {}


def test_examples_are_read_from_every_document():
    documents = [
        document({"greet": ["你好"]}, {}),
        document({"greet": ["[在不在](x)"], "thank": ["谢谢"]}, {}),
    ]
    assert examples_by_label(documents) == {"greet": ["你好", "[在不在](x)"], "thank": ["谢谢"]}


def test_merged_data_is_refused_for_each_broken_rule_and_passes_when_sound():
    sound = document({"faq/elderly_card_materials": ["老年证要带啥子"]}, {NAME: [answer()]})
    assert knowledge_base_problems([sound], TODAY) == []

    console = document(
        {"faq/elderly_card_eligibility": ["老年证要带啥子"], "faq/new_topic": ["新问题"]},
        {"utter_faq/elderly_card_eligibility": [answer(source=None)]},
    )
    problems = knowledge_base_problems([sound, console], TODAY)
    assert problems == [
        "utter_faq/elderly_card_eligibility 的答案没有注明来源",
        "faq/new_topic 有问法但没有答案",
        "「老年证要带啥子」同时标成了 faq/elderly_card_eligibility、faq/elderly_card_materials",
    ]


def test_only_knowledge_base_answers_are_held_to_the_rules():
    greeting = {"utter_greet": [{"text": "你好" * 200}]}
    assert knowledge_base_problems([document({}, greeting)], TODAY) == []
    referral = {"utter_out_of_scope/electricity": [answer(text="长" * 121)]}
    assert knowledge_base_problems([document({}, referral)], TODAY) == [
        "utter_out_of_scope/electricity 的答案有 121 个字，超过 120 字"
    ]
