"""What residents are told about rating a service, complaining and leaving a message for
staff, after a second trial found texts that were no longer true: online rating "still
being prepared" (residents are invited to rate after a service and answer with a level's
words), and 「现在是下班时间」 said during the lunch break.
"""

from __future__ import annotations

import yaml

from tests.actions.domain_text import DOMAIN
from tests.conftest import ROOT

LEVELS = ("满意", "不满意")


def text_of(response: str) -> str:
    return DOMAIN["responses"][response][0]["text"]


def complaint_channels() -> dict:
    data = yaml.safe_load((ROOT / "bot/data/core/complaints.yml").read_text(encoding="utf-8"))
    return data["responses"]["utter_faq/complaint_channels"][0]


def test_asking_to_rate_is_told_how_rating_works_now_and_where_complaints_go():
    text = text_of("utter_rate_service")
    assert "准备中" not in text and "窗口评价" not in text
    assert all(f"“{level}”" in text for level in LEVELS)  # the words to answer with
    assert "「我要投诉」" in text


def test_the_complaint_answer_promises_no_rating_a_resident_cannot_start():
    answer = complaint_channels()
    # A 差评 of an application cannot be given at will: the resident is invited.
    assert "打「差评」" not in answer["text"] and "“不满意”" in answer["text"]
    titles = [button["title"] for button in answer["buttons"]]
    assert "给办件评价" not in titles and "我要投诉" in titles
    assert len(answer["text"]) <= 200


def test_the_message_invitation_is_true_at_lunch_at_night_and_on_holidays():
    text = text_of("utter_handoff_leave_message")
    assert "下班" not in text and "不在岗" in text
    assert "{opening}上班" in text
