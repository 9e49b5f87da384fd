"""好差评 through the REST channel with the real stack: an application decided by staff
invites its resident to rate, with the five levels as buttons; the rating (a level's
words, tapped or typed, with a comment) is recorded by the store's message routing and
thanked (or, for a 差评, answered with the call-back promise) without Rasa ever seeing
it; the resident's next question is the assistant's again.

A digit is never a rating by itself (a trial found 「4」 for a menu button recorded as a
差评 and 「3」 answering the household size as 基本满意): on REST the answer comes after
the invitation, so a digit picks from the answer's buttons, or is plain text."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.actions.domain_text import DOMAIN
from tests.e2e.rest import Resident
from tests.servers import Stack

DECIDED = ("township_review", "district_review", "approved")


def text_of(response: str) -> str:
    return DOMAIN["responses"][response][0]["text"]


def approved_application(stack: Stack, resident: Resident) -> str:
    """An elderly card applied for in the resident's conversation, approved by staff."""
    body = {
        "service_type": "elderly_card",
        "applicant_name": "王秀英",
        "id_number": resident.id_number,
        "phone": "13812345678",
        "township": "牛佛镇",
        "details": {},
        "channel": "rest",
        "conversation_id": resident.conversation_id,
        "privacy_notice": "2026-11",
    }
    created = _post(
        stack,
        "/applications",
        body,
        stack.env["STORE_SERVICE_TOKEN"],
        {"Idempotency-Key": uuid.uuid4().hex},
    )
    number = created["tracking_number"]
    for status in DECIDED:
        change = {"status": status, "actor": "王芳"}
        _post(stack, f"/staff/applications/{number}/transitions", change, stack.staff_token)
    return number


def _post(
    stack: Stack, path: str, body: dict, token: str, headers: dict[str, str] | None = None
) -> dict:
    request = urllib.request.Request(
        stack.store_url + path,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            **(headers or {}),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def recorded_level(stack: Stack, resident: Resident) -> str | None:
    with sqlite3.connect(Path(stack.folder) / "store.db") as db:
        row = db.execute(
            "SELECT level FROM ratings WHERE conversation_id = ?", (resident.conversation_id,)
        ).fetchone()
    return row[0] if row else None


def user_texts(resident: Resident) -> list[str]:
    return [event["text"] for event in resident.tracker()["events"] if event["event"] == "user"]


LEVELS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]


@pytest.mark.parametrize(
    ("rating", "level", "answer"),
    [
        ("不满意 太慢了", "dissatisfied", "utter_rating_sorry"),
        ("非常满意", "very_satisfied", "utter_rating_thanks"),
    ],
)
def test_a_rating_is_thanked_and_never_reaches_the_assistant(
    stack: Stack, rating: str, level: str, answer: str
) -> None:
    resident = Resident(stack)
    number = approved_application(stack, resident)
    # The invitation comes with the resident's next message, before the answer.
    invited = resident.say("你好")
    assert number in invited and "打个分" in invited
    assert [button["payload"] for button in resident.buttons[:5]] == LEVELS

    assert resident.say(rating) == text_of(answer)
    assert recorded_level(stack, resident) == level
    assert rating not in user_texts(resident)

    # Rated once: the resident's question is the assistant's again.
    expected = Resident(stack).say("低保咋个申请")
    assert resident.say("低保咋个申请") == expected
    assert user_texts(resident)[-1] == "低保咋个申请"


def test_a_digit_after_the_invitation_picks_from_the_answer_and_a_digit_is_no_rating(
    stack: Stack,
) -> None:
    resident = Resident(stack)
    approved_application(stack, resident)
    resident.say("你好")
    # The invitation's buttons, then the welcome menu's: the menu is the last reply.
    assert [button["payload"] for button in resident.buttons][5:9] == [
        "办老年证", "查进度", "医保交费", "哪些人可以吃低保",
    ]  # fmt: skip

    # The trial's false 差评: 「4」 for the menu's fourth button.
    resident.say("4")
    assert user_texts(resident)[-1] == "哪些人可以吃低保"
    # A digit and a comment is the resident's own text (is 5 the best or the worst?).
    resident.say("4 等太久了")
    assert user_texts(resident)[-1] == "4 等太久了"
    assert recorded_level(stack, resident) is None
    # The invitation is still open to the level's words.
    assert resident.say("满意") == text_of("utter_rating_thanks")
    assert recorded_level(stack, resident) == "satisfied"


def test_an_invitation_given_with_the_household_question_leaves_3_as_its_answer(
    stack: Stack,
) -> None:
    resident = Resident(stack)
    resident.say("那我要申请低保")
    resident.say("我叫王德芬")
    resident.say(resident.id_number)
    resident.say("13980001234")
    approved_application(stack, resident)
    asked = resident.say("何市镇")
    assert "打个分" in asked and asked.endswith(text_of("utter_ask_household_size"))

    summary = resident.say("3")
    assert "家庭人口：3" in summary
    assert recorded_level(stack, resident) is None
