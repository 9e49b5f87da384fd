"""A resident handed to a person and back, through the running assistant's REST channel
and the store's console: 「转人工」 queues the conversation (or, on a day the office is
closed, asks for a message); a staff member takes it; the resident's messages reach the
console and get no answer from the assistant; the staff member's reply reaches the
resident (REST: with their next message); after the hand-back the assistant answers
again, its conversation untouched by what was said to staff."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.actions.domain_text import DOMAIN
from tests.e2e.rest import OPEN_REST, Resident, post_json
from tests.servers import Stack, running_stack
from tests.staff_console import StaffConsole, create_admin

STAFF_NAME = "王芳"


def text_of(response: str, **values: str) -> str:
    return DOMAIN["responses"][response][0]["text"].format(**values)


def user_texts(resident: Resident) -> list[str]:
    return [event["text"] for event in resident.tracker()["events"] if event["event"] == "user"]


@pytest.fixture(scope="module")
def handoff_stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Open all day; a weekend or a holiday still closes it (the test takes either way).
    hours = {"STORE_OFFICE_HOURS": "00:00-23:59"}
    with running_stack(
        tmp_path_factory.mktemp("handoff"), model_path, OPEN_REST, extra_env=hours
    ) as stack:
        yield stack


async def test_a_resident_is_handed_to_a_person_and_back(handoff_stack: Stack) -> None:
    await handed_to_a_person_and_back(handoff_stack, Resident(handoff_stack), "wangfang")


async def handed_to_a_person_and_back(stack: Stack, resident: Resident, staff_login: str) -> None:
    """The whole handoff; the resident's messages go to the stack's replicas in turn."""
    urls = itertools.cycle(stack.rasa_urls)

    def say(text: str) -> str:
        body = {"sender": resident.sender, "message": text}
        replies = post_json(f"{next(urls)}/webhooks/rest/webhook", body, client=resident.client)
        return "\n".join(reply.get("text") or "" for reply in replies)

    password = create_admin(stack, staff_login, STAFF_NAME)
    answer = Resident(stack, client=resident.client).say("老年证咋个办")  # the assistant's
    say("老年证咋个办")
    asked = say("转人工")
    if asked.startswith("现在工作人员不在岗"):
        # Outside office hours: the next message is the one left for staff.
        assert say("我想问我妈的低保") == text_of("utter_handoff_message_taken")
    else:
        assert asked == text_of("utter_handoff_queued_next")
    before = user_texts(resident)

    async with StaffConsole(stack.store_url) as staff:
        await staff.log_in(staff_login, password)
        handoff = (await staff.handoff_ids())[-1]
        await staff.take(handoff)

        # The assistant is silent: only the notice that a person took over comes.
        said = "我妈住在牛佛镇，七十多了"
        assert say(said) == text_of("utter_notice_handoff_taken", text=STAFF_NAME)
        assert (await staff.messages(handoff))["messages"][-1]["text"] == said

        await staff.say(handoff, "好的，请问您妈妈办过老年证没有？")
        reply = say("还没有办过")
        assert reply == text_of("utter_notice_handoff", text="好的，请问您妈妈办过老年证没有？")
        await staff.hand_back(handoff)

    # Nothing said to staff entered the assistant's conversation.
    assert user_texts(resident) == before
    # The same words as before: signed with the same second, the signed REST channel would
    # rightly refuse them as a replay (the whole flow can take under a second).
    await asyncio.sleep(1.1)
    after = say("老年证咋个办").split("\n")
    assert after[0] == text_of("utter_notice_handoff_closed", text=STAFF_NAME)
    assert answer in "\n".join(after[1:])
    assert user_texts(resident) == [*before, "老年证咋个办"]


async def test_a_form_stopped_after_three_unusable_answers_is_handed_to_a_person(
    handoff_stack: Stack,
) -> None:
    resident = Resident(handoff_stack)
    resident.say("我要给我妈办老年证")
    resident.say(f"她叫王秀英 身份证{resident.id_number}")
    for unusable in ("139123", "1381234", "12345"):
        reply = resident.say(unusable)
    stopped, handed = reply.split("\n")
    assert stopped == text_of("utter_too_many_tries")
    assert handed.startswith("已经帮您转给工作人员了") or handed.startswith("现在工作人员不在岗")
    password = create_admin(handoff_stack, "zhaoli")
    async with StaffConsole(handoff_stack.store_url) as staff:
        await staff.log_in("zhaoli", password)
        assert "填表三次不成" in await staff.page("/console/handoffs")
