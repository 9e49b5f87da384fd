"""「转人工」 by the action server, against a real store on loopback: the resident's place
in the queue, a message asked for outside office hours with when staff are back in plain
words, a stopped form queued as such, and 12345 when the store cannot be reached.

The store reads the real clock. One store's office is closed all through the tests (one
minute of office hours twelve hours away); the other's is open all day, which only a
working day makes true: its tests are skipped on weekends and holidays."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import handoff
from bot.actions.handoff import ActionRequestHandoff, tell_where_it_stands
from bot.actions.plain_time import CHINA_TIME, when_in_words
from bot.actions.store_client import HandoffTicket, StoreClient
from rasa_runtime.turns import REASONS
from tests.actions.domain_text import DOMAIN, rendered
from tests.office_hours import closed_all_through_the_test
from tests.servers import StoreProcess, free_port, running_store

TOKEN = "service-token-for-handoff-actions"
UNAVAILABLE = DOMAIN["responses"]["utter_handoff_unavailable"][0]["text"]


@pytest.fixture(scope="module")
def closed_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with running_store(
        tmp_path_factory.mktemp("closed"),
        STORE_SERVICE_TOKEN=TOKEN,
        STORE_OFFICE_HOURS=closed_all_through_the_test(),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def open_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with running_store(
        tmp_path_factory.mktemp("open"), STORE_SERVICE_TOKEN=TOKEN, STORE_OFFICE_HOURS="00:00-23:59"
    ) as running:
        yield running


async def client_of(store: StoreProcess, monkeypatch: pytest.MonkeyPatch) -> StoreClient:
    client = StoreClient(store.url, TOKEN, timeout_seconds=5)
    monkeypatch.setattr(handoff, "shared_client", lambda: client)
    return client


@pytest_asyncio.fixture
async def closed(
    closed_store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StoreProcess]:
    async with await client_of(closed_store, monkeypatch):
        yield closed_store


@pytest_asyncio.fixture
async def open_office(
    open_store: StoreProcess, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StoreProcess]:
    async with await client_of(open_store, monkeypatch) as client:
        probe = await client.request_handoff("rest:probe", "asked", None)
        if not probe.office_open:
            pytest.skip("not a working day: the store's office is closed whatever its hours")
        yield open_store


def asked(sender: str, latest_action: str = "action_listen", **slots: Any) -> Tracker:
    message = {"text": "转人工", "intent": {"name": "ask_human"}, "entities": []}
    return Tracker(sender, slots, message, [], False, None, {}, latest_action)


async def run(tracker: Tracker) -> tuple[list[str], list[str]]:
    """The responses the action named and the texts residents read."""
    dispatcher = CollectingDispatcher()
    events = await ActionRequestHandoff().run(dispatcher, tracker, DOMAIN)
    assert events == []  # nothing in the conversation changes: the store keeps the handoff
    return [m["response"] for m in dispatcher.messages], rendered(dispatcher.messages)


def stored(store: StoreProcess, conversation: str) -> tuple[str, str, str | None]:
    """(state, reason, township) of the conversation's handoff, as the store keeps it."""
    with sqlite3.connect(store.stack.folder / "store.db", timeout=10) as connection:
        return connection.execute(
            "SELECT state, reason, township FROM handoffs WHERE conversation_id = ?",
            (conversation,),
        ).fetchone()


OPENING = r"(今天|明天|后天|周[一二三四五六日]|\d+月\d+日)(上午|中午|下午|晚上)\d+点"


async def test_outside_office_hours_the_resident_is_asked_for_a_message_and_told_when(
    closed: StoreProcess,
) -> None:
    responses, texts = await run(asked("wechat:o-evening"))
    assert responses == ["utter_handoff_leave_message"]
    assert re.fullmatch(
        f"现在工作人员不在岗，{OPENING}上班。请直接把您的事说一下，我转给工作人员，上班后回复您。",
        texts[0],
    ), texts[0]
    assert stored(closed, "wechat:o-evening") == ("awaiting_message", "asked", None)


async def test_asking_again_after_leaving_the_message_says_it_is_with_staff(
    closed: StoreProcess,
) -> None:
    await run(asked("rest:left-one"))
    # The resident's next message, as every channel routes it.
    body = {"conversation_id": "rest:left-one", "text": "房子漏雨"}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        http.post(f"{closed.url}/handoffs/route", json=body) as response,
    ):
        assert (await response.json())["message_taken"] is True
    responses, texts = await run(asked("rest:left-one"))
    assert responses == ["utter_handoff_message_left"]
    assert re.fullmatch(f"您的留言已经转给工作人员了，{OPENING}上班后回复您。.*", texts[0])


async def test_a_stopped_form_is_queued_as_such_with_the_conversations_township(
    closed: StoreProcess,
) -> None:
    # The slot still holds the short form the resident typed; the store takes full names.
    tracker = asked("rest:stopped", latest_action="utter_too_many_tries", township="牛佛")
    await run(tracker)
    assert stored(closed, "rest:stopped") == ("awaiting_message", "form_stopped", "牛佛镇")


async def test_during_office_hours_the_resident_hears_their_place(
    open_office: StoreProcess,
) -> None:
    client: StoreClient = handoff.shared_client()
    for other in ("rest:first", "socketio:second"):
        await client.request_handoff(other, "asked", None)
    # The probe, the two others, then this one: three ahead.
    responses, texts = await run(asked("wechat:o-fourth", township="凤凰街道"))
    assert responses == ["utter_handoff_queued"]
    assert texts[0].startswith("已经帮您转给工作人员了，您前面还有3位。")
    assert stored(open_office, "wechat:o-fourth") == ("waiting", "asked", "凤凰街道")
    # Asked again: the same place, no second handoff.
    assert (await run(asked("wechat:o-fourth")))[1] == texts


async def test_the_first_in_the_queue_is_told_they_are_next(open_office: StoreProcess) -> None:
    responses, _ = await run(asked("rest:probe"))
    assert responses == ["utter_handoff_queued_next"]


async def test_the_store_down_still_gives_the_resident_a_way_to_a_person(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with StoreClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout_seconds=2) as client:
        monkeypatch.setattr(handoff, "shared_client", lambda: client)
        responses, texts = await run(asked("rest:outage"))
    assert responses == ["utter_handoff_unavailable"]
    assert texts == [UNAVAILABLE]
    assert "12345" in texts[0] and "便民服务中心" in texts[0]


async def test_a_conversation_no_channel_named_gets_the_same_way_to_a_person(
    closed: StoreProcess,
) -> None:
    # Rasa's HTTP API or a shell: the store refuses the id, the resident is not stranded.
    assert (await run(asked("default")))[0] == ["utter_handoff_unavailable"]


@pytest.mark.parametrize(
    ("state", "position", "office_open"),
    [
        ("waiting", 4, True),
        ("waiting", 1, True),
        ("awaiting_message", None, False),
        ("message_left", None, False),
        ("message_left", 2, True),
        ("active", None, True),
    ],
)
def test_every_answer_is_a_domain_response_the_inbox_counts_as_a_handoff(
    state: str, position: int | None, office_open: bool
) -> None:
    now = datetime(2026, 12, 1, 18, 0, tzinfo=CHINA_TIME)
    ticket = HandoffTicket(state, position, office_open, now)
    dispatcher = CollectingDispatcher()
    tell_where_it_stands(dispatcher, ticket, now)
    (message,) = dispatcher.messages
    assert REASONS[message["response"]] == "handoff"
    assert rendered([message])[0]  # every variable the text needs is given


@pytest.mark.parametrize(
    ("moment", "words"),
    [
        (datetime(2026, 12, 1, 14, 0), "今天下午2点"),
        (datetime(2026, 12, 2, 9, 0), "明天上午9点"),
        (datetime(2026, 12, 3, 8, 30), "后天上午8点半"),
        (datetime(2026, 12, 7, 9, 0), "周一上午9点"),
        (datetime(2026, 12, 1, 12, 0), "今天中午12点"),
        (datetime(2026, 12, 1, 19, 15), "今天晚上7点15分"),
        (datetime(2026, 12, 10, 9, 0), "12月10日上午9点"),
    ],
)
def test_when_staff_are_back_is_said_in_plain_words(moment: datetime, words: str) -> None:
    tuesday_evening = datetime(2026, 12, 1, 18, 0, tzinfo=CHINA_TIME)
    assert when_in_words(moment.replace(tzinfo=CHINA_TIME), tuesday_evening) == words


def test_the_time_is_china_time_whatever_the_stores_offset() -> None:
    # 01:00 UTC on 2 December is 09:00 in China, the next morning.
    moment = datetime.fromisoformat("2026-12-02T01:00:00+00:00")
    assert when_in_words(moment, datetime(2026, 12, 1, 20, 0, tzinfo=CHINA_TIME)) == "明天上午9点"
