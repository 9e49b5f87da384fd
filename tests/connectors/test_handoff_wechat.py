"""Handoff on WeChat, with a real store process, its console, the channel on a real
server and the simulated WeChat API: a message left outside office hours is acknowledged
in the passive reply; while a staff member has the conversation the resident's messages
get no reply at all (「success」) and what staff say arrives as customer-service messages;
after the hand-back Rasa (the recording stand-in) answers again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from test_handoff_routing import TOKEN, ask_for_a_person
from test_notices import Assistant, assistant, wechat_api
from wechat_harness import new_openid, platform

from connectors import guard
from connectors.handoff import HandoffDesk, HandoffStore, HandoffWords
from connectors.wechat.identity import conversation_id
from tests.actions.domain_text import DOMAIN
from tests.office_hours import closed_all_through_the_test
from tests.servers import StoreProcess, running_store
from tests.staff_console import StaffConsole, create_admin

STAFF_NAME = "李娟"


def text_of(response: str, **values: str) -> str:
    return DOMAIN["responses"][response][0]["text"].format(**values)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with running_store(
        tmp_path_factory.mktemp("handoff-wechat"),
        STORE_SERVICE_TOKEN=TOKEN,
        STORE_OFFICE_HOURS=closed_all_through_the_test(),
    ) as running:
        yield running


@pytest.fixture
async def running(
    store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Assistant, object]]:
    desk = HandoffDesk(HandoffStore(store.url, TOKEN, timeout_seconds=1), HandoffWords.load())
    # The channels' guard routes through this store (the server's desk reads the env).
    monkeypatch.setattr(guard, "shared_desk", lambda: desk)
    async with wechat_api() as (api, base), assistant(store, base, monkeypatch) as channels:
        yield channels, api
    await desk.close()


async def passive_reply(channels: Assistant, openid: str, text: str) -> str | None:
    """The passive reply's text, or None when the server answered 「success」."""
    wechat = platform()
    query, body = wechat.text(openid, text, uuid.uuid4().int % 10**12)
    async with channels.http.post(
        f"{channels.url}/webhooks/wechat/webhook", params=query, data=body
    ) as response:
        assert response.status == 200
        reply = wechat.read_reply(await response.text())
    return None if reply is None else reply["Content"]


async def test_a_wechat_resident_with_a_person_and_back(store: StoreProcess, running) -> None:
    channels, api = running
    openid = new_openid()
    await ask_for_a_person(store, conversation_id(openid))
    left = "我屋头房子漏雨，想找人来看一下"
    assert await passive_reply(channels, openid, left) == text_of("utter_handoff_message_taken")

    password = create_admin(store.stack, f"li-{openid[-6:]}", STAFF_NAME)
    async with StaffConsole(store.url) as staff:
        await staff.log_in(f"li-{openid[-6:]}", password)
        handoff = (await staff.handoff_ids())[-1]
        await staff.take(handoff)
        assert await channels.worker.deliver_due() == 1
        assert await api.next_message(openid) == text_of(
            "utter_notice_handoff_taken", text=STAFF_NAME
        )

        # No reply at all, not even the assistant's: staff have the conversation.
        assert await passive_reply(channels, openid, "漏了三天了") is None
        assert (await staff.messages(handoff))["messages"][-1]["text"] == "漏了三天了"

        await staff.say(handoff, "明天上午我们请村上的人来看。")
        assert await channels.worker.deliver_due() == 1
        assert await api.next_message(openid) == text_of(
            "utter_notice_handoff", text="明天上午我们请村上的人来看。"
        )
        await staff.hand_back(handoff)
    await channels.worker.deliver_due()
    assert await api.next_message(openid) == text_of("utter_notice_handoff_closed", text=STAFF_NAME)
    assert await passive_reply(channels, openid, "你好") == "收到：你好"
