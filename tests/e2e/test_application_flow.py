"""Complete applications through the REST channel against the real store and actions."""

from __future__ import annotations

import json
import urllib.request

from tests.e2e.rest import Resident, post_json, tracking_number_in
from tests.servers import Stack

SENIOR_ID = "510304195503120042"  # born 1955: old enough for the elderly card
YOUNG_ID = "510304198001010023"


def list_applications(stack: Stack, conversation_id: str) -> list[dict]:
    request = urllib.request.Request(
        f"{stack.store_url}/applications?conversation_id={conversation_id}",
        headers={"Authorization": f"Bearer {stack.env['STORE_SERVICE_TOKEN']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["applications"]


def move(stack: Stack, tracking_number: str, status: str) -> None:
    post_json(
        f"{stack.store_url}/staff/applications/{tracking_number}/transitions",
        {"status": status, "note": "材料齐全", "actor": "乡镇窗口"},
        token=stack.staff_token,
    )


def fill_elderly_card_form(resident: Resident) -> str:
    resident.say("我要给我妈办老年证")
    resident.say("王秀英")
    resident.say(SENIOR_ID)
    resident.say("138 1234 5678")
    return resident.say("牛佛")


def test_elderly_card_from_application_to_status(stack: Stack):
    resident = Resident(stack)
    summary = fill_elderly_card_form(resident)
    assert "王秀英" in summary
    assert "5103**********0042" in summary and SENIOR_ID not in summary
    assert "138****5678" in summary and "牛佛镇" in summary

    tracking_number = tracking_number_in(resident.say("对的"))
    move(stack, tracking_number, "township_review")

    status = resident.say("查进度")
    assert tracking_number in status and "乡镇预审" in status

    # Someone else, on another conversation, needs the proof.
    stranger = Resident(stack)
    assert "后4位" in stranger.say(f"帮我查下{tracking_number}")
    assert "乡镇预审" not in stranger.say("9999")
    stranger.say(f"帮我查下{tracking_number}")
    assert "乡镇预审" in stranger.say("0042")


def test_conversations_are_stored_encrypted(stack: Stack):
    resident = Resident(stack)
    fill_elderly_card_form(resident)
    stored = b"".join(path.read_bytes() for path in stack.folder.glob("tracker.db*"))
    assert resident.sender.encode() in stored  # the conversation was written
    for secret in (SENIOR_ID, "138 1234 5678", "13812345678"):
        assert secret.encode() not in stored
    # Rasa reads it back: the resident's answers are in the conversation it serves.
    said = [e["text"] for e in resident.tracker()["events"] if e["event"] == "user"]
    assert SENIOR_ID in said


def test_a_question_in_the_middle_of_a_form_is_answered_and_the_form_goes_on(stack: Stack):
    resident = Resident(stack)
    resident.say("办老年证")
    resident.say("李建国")
    answer = resident.say("老年证有啥子用")
    assert "身份证" in answer  # the form asks its pending question again
    assert "优" in answer or "免" in answer  # and the question got its answer


def test_cancelling_submits_nothing(stack: Stack):
    resident = Resident(stack)
    fill_elderly_card_form(resident)
    assert "没有提交" in resident.say("不办了")
    assert list_applications(stack, resident.sender) == []


def test_a_field_can_be_corrected_before_confirming(stack: Stack):
    resident = Resident(stack)
    fill_elderly_card_form(resident)
    resident.say("不对")
    summary = resident.say("13912345678")
    assert "139****5678" in summary
    tracking_number_in(resident.say("对的"))
    assert list_applications(stack, resident.sender)[0]["tracking_number"]


def test_invalid_answers_are_explained_and_three_fails_offer_a_person(stack: Stack):
    resident = Resident(stack)
    resident.say("我要办老年证")
    resident.say("王秀英")
    assert "对不上" in resident.say("510304195503120043")  # wrong check character
    assert "年满60岁" in resident.say(YOUNG_ID)
    assert "转人工" in resident.say("12345")
    assert list_applications(stack, resident.sender) == []


def test_unknown_township_is_explained(stack: Stack):
    resident = Resident(stack)
    resident.say("办老年证")
    resident.say("王秀英")
    resident.say(SENIOR_ID)
    resident.say("13812345678")
    reply = resident.say("火星上")
    assert "没认出" in reply and "牛佛镇" in reply and "马冲口街道" in reply
    assert "不在大安区" in resident.say("北京")
