"""好差评 through the REST channel with the real stack: an application decided by staff
invites its resident to rate; the rating is recorded by the store's message routing and
thanked (or, for a 差评, answered with the call-back promise) without Rasa ever seeing
it; the resident's next question is the assistant's again."""

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


@pytest.mark.parametrize(
    ("rating", "level", "answer"),
    [
        ("4 太慢了", "dissatisfied", "utter_rating_sorry"),
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

    assert resident.say(rating) == text_of(answer)
    assert recorded_level(stack, resident) == level
    assert rating not in user_texts(resident)

    # Rated once: the resident's question is the assistant's again.
    expected = Resident(stack).say("低保咋个申请")
    assert resident.say("低保咋个申请") == expected
    assert user_texts(resident)[-1] == "低保咋个申请"
