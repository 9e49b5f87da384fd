"""Every channel's turn asks the store where a message goes before Rasa sees it (the
guard with a real store process on loopback, a staff member at its console): a message
left outside office hours and everything said while staff have the conversation reach
staff and never Rasa (a button picked by number in the button's words, as the options
read it first); 「不等了」 leaves the queue; a store that is down, frozen or
refusing leaves every message to Rasa, logged without personal data.

The store's office is closed all through these tests (one minute of office hours twelve
hours away), whatever the day: a handoff then waits for the resident's message, and
staff take it once it is left — every state without depending on the clock."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from connectors.guard import GuardTexts, guarded
from connectors.handoff import HandoffDesk, HandoffStore, HandoffWords
from connectors.options import OptionMemory
from connectors.state import MemoryState
from tests.office_hours import closed_all_through_the_test
from tests.servers import StoreProcess, free_port, running_store, start_store
from tests.staff_console import StaffConsole, create_admin

TOKEN = "service-token-for-handoff-routing"
TEXTS = GuardTexts(empty="空", too_long="太长", too_fast="太快")
WORDS = HandoffWords.load()
ADMIN = "handoff-admin"
LEFT = "我屋头房子漏雨，想找人来看一下"
# The assistant's answer to 「你好」: a menu whose buttons a digit picks.
MENU = {
    "text": "您好！请直接说您的问题，或点下面的按钮。",
    "buttons": [
        {"title": "办老年证", "payload": "办老年证"},
        {"title": "转人工", "payload": "转人工"},
    ],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with running_store(
        tmp_path_factory.mktemp("handoff-store"),
        STORE_SERVICE_TOKEN=TOKEN,
        STORE_OFFICE_HOURS=closed_all_through_the_test(),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def admin_password(store: StoreProcess) -> str:
    return create_admin(store.stack, ADMIN)


@pytest.fixture
async def staff(store: StoreProcess, admin_password: str) -> AsyncIterator[StaffConsole]:
    async with StaffConsole(store.url) as console:
        await console.log_in(ADMIN, admin_password)
        yield console


@pytest.fixture
async def desk(store: StoreProcess) -> AsyncIterator[HandoffDesk]:
    desk = HandoffDesk(HandoffStore(store.url, TOKEN, timeout_seconds=1), WORDS)
    yield desk
    await desk.close()


class Assistant:
    """Rasa's stand-in behind the guard: records what reaches it and answers it."""

    def __init__(self, desk: HandoffDesk) -> None:
        self.reached: list[str] = []
        self._handle = guarded(self._rasa, OptionMemory(MemoryState(10)), TEXTS, desk)

    async def _rasa(self, message: UserMessage) -> None:
        self.reached.append(message.text)
        if message.text == "你好":
            await message.output_channel.send_response(message.sender_id, dict(MENU))
            return
        await message.output_channel.send_text_message(message.sender_id, f"助手：{message.text}")

    async def says(self, conversation: str, text: str) -> list[str]:
        """What the resident reads after `text` (nothing at all: an empty list)."""
        output = CollectingOutputChannel()
        await self._handle(UserMessage(text, output, conversation))
        return [message["text"] for message in output.messages]


async def ask_for_a_person(store: StoreProcess, conversation: str) -> dict:
    """As the action server asks (POST /handoffs)."""
    body = {"conversation_id": conversation, "reason": "asked"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{store.url}/handoffs", json=body, headers=headers) as response,
    ):
        assert response.status == 201, await response.text()
        return await response.json()


def new_conversation(name: str) -> str:
    return f"rest:{name}-{os.urandom(4).hex()}"


async def test_outside_office_hours_the_message_is_left_for_staff_and_rasa_never_sees_it(
    store: StoreProcess, desk: HandoffDesk, staff: StaffConsole
) -> None:
    conversation = new_conversation("left")
    ticket = await ask_for_a_person(store, conversation)
    assert ticket["state"] == "awaiting_message" and ticket["office_open"] is False
    assistant = Assistant(desk)

    assert await assistant.says(conversation, LEFT) == [WORDS.message_taken]
    # Left once: the assistant answers what comes after, while staff are away.
    assert await assistant.says(conversation, "低保咋个申请") == ["助手：低保咋个申请"]
    assert assistant.reached == ["低保咋个申请"]

    handoff = (await staff.handoff_ids())[-1]
    seen = await staff.messages(handoff)
    assert seen["state"] == "message_left"
    assert [(m["from_resident"], m["text"]) for m in seen["messages"]] == [(True, LEFT)]


async def test_while_staff_have_the_conversation_only_staff_hear_the_resident(
    store: StoreProcess, desk: HandoffDesk, staff: StaffConsole
) -> None:
    conversation = new_conversation("taken")
    await ask_for_a_person(store, conversation)
    assistant = Assistant(desk)
    await assistant.says(conversation, LEFT)
    handoff = (await staff.handoff_ids())[-1]
    await staff.take(handoff)

    # No answer at all: staff answer through the notices. 「不等了」 is for staff too now.
    assert await assistant.says(conversation, "我妈住在牛佛镇") == []
    assert await assistant.says(conversation, "不等了") == []
    assert await assistant.says(conversation, "/restart") == []
    assert assistant.reached == []
    said = [m["text"] for m in (await staff.messages(handoff))["messages"]]
    assert said == [LEFT, "我妈住在牛佛镇", "不等了", "/restart"]

    await staff.hand_back(handoff)
    assert await assistant.says(conversation, "老年证咋个办") == ["助手：老年证咋个办"]
    assert assistant.reached == ["老年证咋个办"]


async def test_a_button_picked_by_number_reaches_staff_in_its_words(
    store: StoreProcess, desk: HandoffDesk, staff: StaffConsole
) -> None:
    conversation = new_conversation("picked")
    assistant = Assistant(desk)
    assert await assistant.says(conversation, "你好") == [MENU["text"]]
    await ask_for_a_person(store, conversation)

    # Read by the options before the store routes it: the message left is the button's.
    assert await assistant.says(conversation, "1") == [WORDS.message_taken]
    handoff = (await staff.handoff_ids())[-1]
    await staff.take(handoff)
    # The acknowledgement has no buttons: a number now is the resident's own.
    assert await assistant.says(conversation, "2") == []
    said = [m["text"] for m in (await staff.messages(handoff))["messages"]]
    assert said == ["办老年证", "2"]
    assert assistant.reached == ["你好"]


async def test_cancel_words_leave_the_queue_before_anyone_has_taken_it(
    store: StoreProcess, desk: HandoffDesk, staff: StaffConsole
) -> None:
    conversation = new_conversation("cancel")
    await ask_for_a_person(store, conversation)
    handoff = (await staff.handoff_ids())[-1]
    assistant = Assistant(desk)

    assert await assistant.says(conversation, "算了 不要人工了！") == [WORDS.cancelled]
    # Not kept as the message left: the next one goes to the assistant.
    assert await assistant.says(conversation, LEFT) == [f"助手：{LEFT}"]
    assert assistant.reached == [LEFT]
    assert handoff not in await staff.handoff_ids()
    assert await staff.messages(handoff) == {"state": "closed", "messages": []}


async def test_cancel_words_with_no_handoff_open_reach_the_assistant(desk: HandoffDesk) -> None:
    assistant = Assistant(desk)
    assert await assistant.says(new_conversation("none"), "不等了") == ["助手：不等了"]


@pytest.mark.parametrize(
    ("text", "cancels"),
    [
        ("不等了", True),
        ("不 等 了！", True),
        ("算了不要人工了", True),
        ("取消转人工", True),
        ("莫等了哈", True),
        ("等一下", False),
        ("转人工", False),
        ("我不晓得等好久", False),
    ],
)
def test_the_cancel_words_are_the_staff_edited_list(text: str, cancels: bool) -> None:
    assert WORDS.asks_to_cancel(text) is cancels


async def test_a_store_that_refuses_a_conversation_leaves_it_to_the_assistant(
    desk: HandoffDesk, store: StoreProcess
) -> None:
    # Not a channel's conversation (Rasa's HTTP API, a test): the store answers 400.
    assistant = Assistant(desk)
    assert await assistant.says("default", "转人工") == ["助手：转人工"]
    # A refusal is no outage: the next conversation is routed at once.
    conversation = new_conversation("after-refusal")
    await ask_for_a_person(store, conversation)
    assert await assistant.says(conversation, LEFT) == [WORDS.message_taken]


async def test_a_store_down_leaves_every_message_to_the_assistant_and_routing_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    port = free_port()
    store = start_store(
        tmp_path, port, STORE_SERVICE_TOKEN=TOKEN, STORE_OFFICE_HOURS=closed_all_through_the_test()
    )
    conversation = new_conversation("outage")
    desk = HandoffDesk(
        HandoffStore(store.url, TOKEN, timeout_seconds=1),
        WORDS,
        pause_seconds=5,
        clock=lambda: now[0],
    )
    assistant = Assistant(desk)
    try:
        await ask_for_a_person(store, conversation)
        store.stop()
        with caplog.at_level(logging.INFO, logger="connectors.handoff"):
            assert await assistant.says(conversation, LEFT) == [f"助手：{LEFT}"]
            store.stack.start("store")
            # Within the pause the store is not asked: the assistant still answers.
            assert await assistant.says(conversation, "还在吗") == ["助手：还在吗"]
            now[0] += 5
            assert await assistant.says(conversation, LEFT) == [WORDS.message_taken]
    finally:
        store.stop()
        await desk.close()
    assert assistant.reached == [LEFT, "还在吗"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "the store did not answer" in logged and "answers again" in logged
    assert LEFT not in logged and conversation not in logged


async def test_a_frozen_store_is_given_up_on_and_the_assistant_answers(
    store: StoreProcess, desk: HandoffDesk
) -> None:
    conversation = new_conversation("frozen")
    await ask_for_a_person(store, conversation)
    process = store.stack.services["store"].process
    assert process is not None
    assistant = Assistant(desk)
    os.kill(process.pid, signal.SIGSTOP)
    try:
        assert await assistant.says(conversation, LEFT) == [f"助手：{LEFT}"]
    finally:
        os.kill(process.pid, signal.SIGCONT)
