"""What the trained model must get right beyond the average: the known traps."""

from __future__ import annotations

import jieba
import pytest

from tests.nlu.test_heldout_accuracy import RESIDENTS
from tests.trainingdata import examples_by_label, plain
from trainer.evaluation import Parser, decision

# Words jieba's own dictionary splits, so a token proves the user dictionary is loaded.
DICTIONARY_WORDS = ["三多寨镇", "老年正", "高龄津贴"]


@pytest.mark.parametrize("word", DICTIONARY_WORDS)
def test_user_dictionary_is_in_effect_in_the_model(parser: Parser, word: str):
    text = f"我想问一下{word}的事情"
    assert word not in list(jieba.Tokenizer().cut(text))
    tokens = [token.text for token in parser.parse(text, with_tokens=True)["text_tokens"]]
    assert word in tokens


@pytest.mark.parametrize(
    "text, label",
    [
        ("你好 请问低保要带些啥子材料", "faq/subsistence_materials"),
        ("在吗 老年证好多岁可以办", "faq/elderly_card_eligibility"),
        ("你好，我想办老年证", "apply_elderly_card"),
    ],
)
def test_greeting_followed_by_a_question_gets_the_question(parser: Parser, text, label):
    assert parser.label(text) == label


@pytest.mark.parametrize(
    "text, label",
    [
        ("低保一般要审批好久", "faq/subsistence_process"),
        ("我交的低保申请审到哪一步了", "check_status"),
        ("危房改造从申请到批下来要多长时间", "faq/housing_renovation_process"),
        ("我屋头的危房改造申请批了没得", "check_status"),
    ],
)
def test_process_questions_and_status_requests_are_told_apart(parser: Parser, text, label):
    assert parser.label(text) == label


@pytest.mark.parametrize(
    "text",
    ["帮我买张去成都的火车票", "今天自贡下不下雨", "我想买个车险", "哪里有装修师傅"],
)
def test_everyday_requests_are_out_of_scope(parser: Parser, text):
    assert parser.label(text) in {"out_of_scope", "nlu_fallback"}


@pytest.mark.parametrize(
    "text, entity, value",
    [
        ("我的身份证号是360426199101010071", "id_number", "360426199101010071"),
        ("电话13812345678", "phone", "13812345678"),
        ("帮我查下DA202611270001", "tracking_number", "DA202611270001"),
        ("我是牛佛的", "township", "牛佛镇"),
        ("住在三多寨镇", "township", "三多寨镇"),
    ],
)
def test_values_are_extracted(parser: Parser, text, entity, value):
    found = {(e["entity"], e["value"]) for e in parser.parse(text)["entities"]}
    assert (entity, value) in found


# A misspelling residents typed: read as the word meant (bot/lexicon/misspellings.yml).
MISSPELT_QUESTIONS = [("抵保咋个申情", "faq/subsistence_process")]  # 低保咋个申请
# The weak label of issue 9: 1 of the residents' 5 held-out erasure requests was
# recognised; the others went to bot_challenge, faq/privacy, out_of_scope, an application.
MIN_ERASURE_REQUESTS_RECOGNISED = 4


@pytest.mark.parametrize("text, topic", MISSPELT_QUESTIONS)
def test_a_misspelt_question_is_answered_with_its_topic(parser: Parser, text, topic):
    assert decision(parser.parse(text)) == ("answered", topic)


def test_residents_requests_to_delete_the_conversation_are_recognised(parser: Parser):
    requests = [plain(text) for text in examples_by_label([RESIDENTS])["delete_conversation"]]
    missed = [text for text in requests if parser.label(text) != "delete_conversation"]
    assert len(requests) - len(missed) >= MIN_ERASURE_REQUESTS_RECOGNISED, missed
