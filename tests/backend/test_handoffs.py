"""Handoff to a person: the queue, office hours, routing that silences the assistant on
every replica, staff taking over, replying, forwarding and handing back."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from console_helpers import log_in, make_account, post_form
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import SERVICE_HEADERS, FakeClock, capture_body

from backend.handoff.calendar import (
    OfficeHours,
    add_working_days,
    is_working_day,
    parse_periods,
)
from backend.tracking import CHINA_TZ

HOURS = OfficeHours(parse_periods("09:00-12:00,14:00-17:30"))
TUESDAY_MORNING = datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ)
SATURDAY = datetime(2026, 12, 5, 10, 0, tzinfo=CHINA_TZ)


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (TUESDAY_MORNING, True),
        (datetime(2026, 12, 1, 12, 30, tzinfo=CHINA_TZ), False),  # lunch
        (datetime(2026, 12, 1, 17, 30, tzinfo=CHINA_TZ), False),  # closing time itself
        (SATURDAY, False),
        (datetime(2026, 10, 1, 10, 0, tzinfo=CHINA_TZ), False),  # National Day
        (datetime(2026, 10, 10, 10, 0, tzinfo=CHINA_TZ), True),  # a Saturday made a workday
        (datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc), True),  # 10:00 in China
    ],
)
def test_office_hours_follow_the_periods_and_chinas_working_days(
    moment: datetime, open_: bool
) -> None:
    assert HOURS.is_open(moment) is open_


def test_the_next_opening_skips_lunch_weekends_and_holidays() -> None:
    lunch = datetime(2026, 12, 1, 12, 30, tzinfo=CHINA_TZ)
    assert HOURS.next_opening(lunch) == datetime(2026, 12, 1, 14, 0, tzinfo=CHINA_TZ)
    assert HOURS.next_opening(SATURDAY) == datetime(2026, 12, 7, 9, 0, tzinfo=CHINA_TZ)
    national_day = datetime(2026, 9, 30, 18, 0, tzinfo=CHINA_TZ)
    assert HOURS.next_opening(national_day) == datetime(2026, 10, 8, 9, 0, tzinfo=CHINA_TZ)
    assert HOURS.next_opening(TUESDAY_MORNING) == TUESDAY_MORNING


def test_working_days_are_counted_with_the_holiday_calendar() -> None:
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert add_working_days(date(2026, 12, 4), 1) == date(2026, 12, 7)  # Friday → Monday


def test_a_year_the_calendar_does_not_cover_counts_monday_to_friday() -> None:
    assert is_working_day(date(2031, 1, 6))  # a Monday
    assert not is_working_day(date(2031, 1, 4))  # a Saturday


@pytest.mark.parametrize("bad", ["9-12", "12:00-09:00", "09:00-12:00,nonsense"])
def test_office_hours_that_make_no_sense_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_periods(bad)


async def ask(client: TestClient, conversation: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/handoffs",
        json={"conversation_id": conversation, "reason": "asked", **body},
        headers=SERVICE_HEADERS,
    )
    return response.status, await response.json()


async def route(client: TestClient, conversation: str, said: str) -> dict[str, Any]:
    response = await client.post(
        "/handoffs/route",
        json={"conversation_id": conversation, "text": said},
        headers=SERVICE_HEADERS,
    )
    assert response.status == 200
    return await response.json()


def notices(raw_db: Engine) -> list[tuple[str, str]]:
    with raw_db.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text("SELECT conversation_id, kind FROM notifications ORDER BY id")
            )
        ]


async def test_residents_queue_in_order_and_asking_again_keeps_the_place(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY_MORNING
    first_status, first = await ask(client, "wechat:a")
    clock.advance(5)
    _, second = await ask(client, "rest:default:b", township="牛佛镇")
    again_status, again = await ask(client, "wechat:a")
    assert (first_status, again_status) == (201, 200)
    assert (first["position"], second["position"], again["position"]) == (1, 2, 1)
    assert first["office_open"] and first["state"] == "waiting"
    assert again["id"] == first["id"] and not again["new"]


async def test_while_waiting_the_assistant_still_answers(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY_MORNING
    await ask(client, "wechat:a")
    assert await route(client, "wechat:a", "低保咋个申请") == {
        "to_staff": False,
        "state": "waiting",
        "message_taken": False,
        "rated": None,
    }
    assert (await route(client, "wechat:nobody", "你好"))["to_staff"] is False


async def test_outside_office_hours_the_next_message_is_left_for_staff(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    clock.now = SATURDAY
    _, ticket = await ask(client, "wechat:a")
    assert ticket["state"] == "awaiting_message" and ticket["position"] is None
    assert ticket["next_opening"].startswith("2026-12-07T09:00:00")
    left = await route(client, "wechat:a", "我家低保卡的钱这个月没到")
    assert left == {
        "to_staff": True,
        "state": "message_left",
        "message_taken": True,
        "rated": None,
    }
    assert (await route(client, "wechat:a", "你好"))["to_staff"] is False  # assistant again
    with raw_db.connect() as connection:
        stored = connection.execute(text("SELECT text_enc FROM handoff_messages")).scalar()
    assert "低保" not in stored  # encrypted


async def test_staff_take_over_and_the_assistant_is_silent_until_handed_back(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    clock.now = TUESDAY_MORNING
    _, ticket = await ask(client, "wechat:a")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = f"/console/handoffs/{ticket['id']}"
    queue = await (await client.get("/console/handoffs")).text()
    assert page in queue and "排队中" in queue
    assert (await post_form(client, f"{page}/take", page)).status == 303
    assert (await route(client, "wechat:a", "我想问下我妈的低保"))["to_staff"] is True
    said = await post_form(client, f"{page}/say", page, text="您好，我是民政办小王，请说。")
    assert said.status == 303
    shown = await (await client.get(page)).text()
    assert "我想问下我妈的低保" in shown and "我是民政办小王" in shown
    live = await (await client.get(f"{page}/messages.json?after=0")).json()
    assert [m["from_resident"] for m in live["messages"]] == [True, False]
    assert (await post_form(client, f"{page}/close", page)).status == 303
    assert (await route(client, "wechat:a", "谢谢"))["to_staff"] is False
    assert notices(raw_db) == [
        ("wechat:a", "handoff_taken"),
        ("wechat:a", "handoff"),
        ("wechat:a", "handoff_closed"),
        ("wechat:a", "rating_invite"),
    ]
    with raw_db.connect() as connection:
        actions = [row[0] for row in connection.execute(text("SELECT action FROM audit_log"))]
    assert {"handoff_take", "handoff_close"} <= set(actions)


async def test_only_the_staff_member_who_took_it_replies(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY_MORNING
    _, ticket = await ask(client, "wechat:a")
    page = f"/console/handoffs/{ticket['id']}"
    await make_account(client, "wang")
    await make_account(client, "li")
    await log_in(client, "wang")
    await post_form(client, f"{page}/take", page)
    client.session.cookie_jar.clear()
    await log_in(client, "li")
    assert (await post_form(client, f"{page}/take", page)).status == 409
    assert (await post_form(client, f"{page}/say", page, text="我来")).status == 409
    assert (await post_form(client, f"{page}/close", page)).status == 409


async def test_a_forwarded_conversation_waits_for_that_colleague(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY_MORNING
    _, ticket = await ask(client, "wechat:a")
    page = f"/console/handoffs/{ticket['id']}"
    await make_account(client, "wang")
    li = await make_account(client, "li")
    await make_account(client, "zhao")
    await log_in(client, "wang")
    await post_form(client, f"{page}/take", page)
    assert (await post_form(client, f"{page}/forward", page, colleague=str(li.id))).status == 303
    assert (await route(client, "wechat:a", "还在吗"))["to_staff"] is False  # queued again
    client.session.cookie_jar.clear()
    await log_in(client, "zhao")
    assert (await post_form(client, f"{page}/take", page)).status == 409
    client.session.cookie_jar.clear()
    await log_in(client, "li")
    assert "转给您的" in await (await client.get("/console/handoffs")).text()
    assert (await post_form(client, f"{page}/take", page)).status == 303


async def test_staff_of_a_township_see_its_handoffs_and_unplaced_ones_only(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY_MORNING
    _, ours = await ask(client, "wechat:a", township="牛佛镇")
    _, unplaced = await ask(client, "wechat:b")
    _, theirs = await ask(client, "wechat:c", township="何市镇")
    await make_account(client, "niufo", township="牛佛镇")
    await log_in(client, "niufo")
    queue = await (await client.get("/console/handoffs")).text()
    assert f"/console/handoffs/{ours['id']}" in queue
    assert f"/console/handoffs/{unplaced['id']}" in queue
    assert f"/console/handoffs/{theirs['id']}" not in queue
    assert (await client.get(f"/console/handoffs/{theirs['id']}")).status == 404


async def test_a_resident_can_cancel_before_someone_takes_over(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY_MORNING
    await ask(client, "wechat:a")
    response = await client.post(
        "/handoffs/cancel", json={"conversation_id": "wechat:a"}, headers=SERVICE_HEADERS
    )
    assert (await response.json()) == {"cancelled": True}
    _, again = await ask(client, "wechat:a")
    assert again["new"] is True


async def test_concurrent_requests_from_two_replicas_open_one_handoff(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    clock.now = TUESDAY_MORNING
    results = await asyncio.gather(*(ask(client, "wechat:a") for _ in range(4)))
    assert len({body["id"] for _, body in results}) == 1
    with raw_db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM handoffs")).scalar() == 1


async def test_handoff_calls_need_the_service_token(client: TestClient) -> None:
    for path in ("/handoffs", "/handoffs/route", "/handoffs/cancel"):
        response = await client.post(path, json={})
        assert response.status == 401


async def test_forwarding_to_oneself_does_not_get_round_a_forward(
    client: TestClient, clock: FakeClock
) -> None:
    """A trial: forwarded to a colleague, another staff member forwarded it to themself
    and took it."""
    clock.now = TUESDAY_MORNING
    _, ticket = await ask(client, "wechat:a")
    page = f"/console/handoffs/{ticket['id']}"
    li = await make_account(client, "li")
    wang = await make_account(client, "wang")
    await make_account(client, "boss", role="admin")
    await log_in(client, "boss")
    await post_form(client, f"{page}/forward", page, colleague=str(li.id))
    client.session.cookie_jar.clear()
    await log_in(client, "wang")
    mine = await post_form(client, f"{page}/forward", page, colleague=str(wang.id))
    assert mine.status == 400
    assert (await post_form(client, f"{page}/take", page)).status == 409


async def test_a_closed_handoff_with_no_place_is_not_for_every_township(
    client: TestClient, clock: FakeClock
) -> None:
    """A trial: a 牛佛镇 account read a closed conversation of a 回龙镇 resident by id."""
    clock.now = TUESDAY_MORNING
    _, ticket = await ask(client, "wechat:a")
    page = f"/console/handoffs/{ticket['id']}"
    await make_account(client, "wang")
    await make_account(client, "niufo", township="牛佛镇")
    await log_in(client, "niufo")
    assert (await client.get(page)).status == 200  # open and unplaced: in the pool
    client.session.cookie_jar.clear()
    await log_in(client, "wang")
    await post_form(client, f"{page}/take", page)
    await post_form(client, f"{page}/close", page)
    client.session.cookie_jar.clear()
    await log_in(client, "niufo")
    assert (await client.get(page)).status == 404
    assert (await client.get(f"{page}/messages.json?after=0")).status == 404


async def test_an_absurd_message_cursor_is_no_server_error(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY_MORNING
    _, ticket = await ask(client, "wechat:a")
    await make_account(client, "wang")
    await log_in(client, "wang")
    response = await client.get(
        f"/console/handoffs/{ticket['id']}/messages.json?after=99999999999999999999999"
    )
    assert response.status == 200
    assert (await response.json())["messages"] == []


async def test_handing_back_settles_the_residents_requests_in_the_inbox(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    """A trial: requests for a person stayed 待处理 in the inbox after the handoff."""
    clock.now = TUESDAY_MORNING
    for words in ("转人工", "我要找真人"):
        await client.post(
            "/inbox/items",
            json=capture_body(
                words, reason="handoff", channel="wechat", conversation_id="wechat:a"
            ),
            headers=SERVICE_HEADERS,
        )
    _, ticket = await ask(client, "wechat:a")
    page = f"/console/handoffs/{ticket['id']}"
    await make_account(client, "wang")
    await log_in(client, "wang")
    await post_form(client, f"{page}/take", page)
    await post_form(client, f"{page}/close", page)
    with raw_db.connect() as connection:
        labels = connection.execute(text("SELECT resolved_label FROM inbox_items")).all()
    assert [label for (label,) in labels] == ["ask_human", "ask_human"]
    assert "没有符合条件的问题" in await (await client.get("/console/inbox")).text()


async def test_a_conversation_forwarded_to_a_colleague_is_theirs_alone(
    client: TestClient, clock: FakeClock
) -> None:
    """A second trial: another township's staff forwarded it to their own township and
    took it, or closed it while the resident's message was unanswered."""
    clock.now = SATURDAY  # a message is left, the handoff waits for staff
    _, ticket = await ask(client, "wechat:a")
    await route(client, "wechat:a", "我家低保卡里的钱这个月没到")
    page = f"/console/handoffs/{ticket['id']}"
    li = await make_account(client, "li", township="牛佛镇")
    await make_account(client, "dsp", township="大山铺镇")
    await make_account(client, "boss", role="admin")
    await log_in(client, "boss")
    await post_form(client, f"{page}/forward", page, colleague=str(li.id))
    client.session.cookie_jar.clear()
    await log_in(client, "dsp")
    assert (await post_form(client, f"{page}/forward", page, township="大山铺镇")).status == 409
    assert (await post_form(client, f"{page}/close", page)).status == 409
    assert (await post_form(client, f"{page}/take", page)).status == 409


async def test_a_waiting_resident_is_taken_and_answered_before_being_closed(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY_MORNING
    _, ticket = await ask(client, "wechat:a")
    page = f"/console/handoffs/{ticket['id']}"
    await make_account(client, "wang")
    await log_in(client, "wang")
    refused = await post_form(client, f"{page}/close", page)
    assert refused.status == 409 and "请先接入" in await refused.text()


async def test_township_staff_can_open_every_handoff_their_queue_shows(
    client: TestClient, clock: FakeClock
) -> None:
    """A second trial: an unplaced handoff waiting for a message was listed, then 404."""
    clock.now = SATURDAY
    await ask(client, "wechat:a")  # awaiting the message, no place
    clock.now = TUESDAY_MORNING
    await ask(client, "wechat:b", township="何市镇")
    await make_account(client, "niufo", township="牛佛镇")
    await log_in(client, "niufo")
    queue = await (await client.get("/console/handoffs")).text()
    links = re.findall(r'href="(/console/handoffs/\d+)"', queue)
    assert links
    for link in links:
        assert (await client.get(link)).status == 200, link
