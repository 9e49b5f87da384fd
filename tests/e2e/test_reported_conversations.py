"""Messages residents reported the assistant misunderstood, end to end through REST.

The reported wordings are in tests/nlu/heldout_reported.yml (never training data).
"""

from __future__ import annotations

from tests.e2e.rest import Resident
from tests.servers import Stack
from tests.trainingdata import ROOT, examples_by_label

REPORTED = examples_by_label([ROOT / "tests" / "nlu" / "heldout_reported.yml"])


def test_i_want_to_apply_after_a_subsistence_answer_starts_that_application(stack: Stack):
    resident = Resident(stack)
    assert "回复「申请低保」在线申请" in resident.say("低保要满足啥子条件")
    assert "在线申请低保" in resident.say("我要申请")


def test_a_question_about_the_elderly_card_is_answered_before_anything_is_asked(stack: Stack):
    resident = Resident(stack)
    (question,) = REPORTED["faq/elderly_card_materials"]
    answer = resident.say(question)
    assert "身份证和近期照片" in answer and "姓名" not in answer
    assert "在线申请老年证" in resident.say("我要申请")


def test_a_no_that_asks_not_to_keep_anything_deletes_the_conversation(stack: Stack):
    resident = Resident(stack)
    resident.say("老年证有啥子用")
    assert "删除后找不回来" in resident.say("帮我把聊天记录删掉")
    (refusal,) = REPORTED["delete_conversation"]
    assert "已经删除" in resident.say(refusal)
    said = [e for e in resident.tracker()["events"] if e["event"] == "user"]
    assert "老年证有啥子用" not in str(said)


def test_a_misspelt_subsistence_question_is_answered(stack: Stack):
    assert "书面申请" in Resident(stack).say("抵保咋个申情")
