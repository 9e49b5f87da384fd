"""好差评: one invitation per finished service, answers read from the level's words (a
button of the invitation, or typed), a 差评
called back and put right on time in working days, then one follow-up invitation."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from console_helpers import log_in, make_account, post_form
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import SERVICE_HEADERS, FakeClock, capture_body, create, transition

from backend.ratings.levels import read_answer
from backend.tracking import CHINA_TZ

FRIDAY = datetime(2026, 12, 4, 10, 0, tzinfo=CHINA_TZ)


@pytest.mark.parametrize(
    ("reply", "level", "comment"),
    [
        ("非常满意", "very_satisfied", None),
        ("不满意 等了好久都没人理", "dissatisfied", "等了好久都没人理"),
        ("　非常不满意！", "very_dissatisfied", None),  # full-width space and mark
        # Led in, in a short reply (a second trial lost these):
        (
            "说实话 不满意 说好打电话到现在都没打",
            "dissatisfied",
            "说实话 不满意 说好打电话到现在都没打",
        ),
        ("这回满意了 谢谢你们", "satisfied", "这回满意了 谢谢你们"),
        (
            "还可以 基本满意嘛 就是等了好几天",
            "fairly_satisfied",
            "还可以 基本满意嘛 就是等了好几天",
        ),
        ("不太满意", "dissatisfied", "不太满意"),
        ("非常不满意，态度不好", "very_dissatisfied", "态度不好"),
        ("不满意", "dissatisfied", None),
        ("满意", "satisfied", None),
        ("基本满意吧", "fairly_satisfied", "吧"),
    ],
)
def test_a_reply_is_read_as_a_level_and_a_comment(
    reply: str, level: str, comment: str | None
) -> None:
    answer = read_answer(reply)
    assert answer is not None and (answer.level, answer.comment) == (level, comment)


@pytest.mark.parametrize(
    "reply",
    # A digit is a button pick, a household size, a menu choice: never a rating by itself
    # (a trial found each of these recorded as one). The invitation's buttons carry words.
    [
        "1",
        "3",
        "4 等太久了",
        "5",
        "６",
        "13812345678",
        "低保咋个申请",
        "",
        "满不满意都行",
        "你们觉得我满意吗",
        # A long message with a question in it goes to the assistant whole.
        "上次办老年证我还是满意的 这回想问下低保要带啥子材料 我妈七十多了腿脚不方便",
    ],
)
def test_anything_else_is_no_rating(reply: str) -> None:
    assert read_answer(reply) is None


async def decided(client: TestClient) -> str:
    number = (await create(client))["tracking_number"]
    for status in ("township_review", "district_review", "approved"):
        assert (await transition(client, number, status)).status == 200
    return number


async def route(client: TestClient, said: str, conversation: str = "rest:conv-1") -> Any:
    response = await client.post(
        "/handoffs/route",
        json={"conversation_id": conversation, "text": said},
        headers=SERVICE_HEADERS,
    )
    return await response.json()


def rows(raw_db: Engine, query: str) -> list[Any]:
    with raw_db.connect() as connection:
        return connection.execute(text(query)).all()


async def test_a_decided_application_invites_one_rating_on_its_channel(
    client: TestClient, raw_db: Engine
) -> None:
    number = await decided(client)
    await transition(client, number, "ready_for_pickup")
    kinds = [kind for (kind,) in rows(raw_db, "SELECT kind FROM notifications ORDER BY id")]
    assert kinds.count("rating_invite") == 1
    assert kinds.index("rating_invite") == kinds.index("status_change") + 3  # after approved


async def test_a_rating_is_recorded_and_a_good_one_opens_no_task(
    client: TestClient, raw_db: Engine
) -> None:
    await decided(client)
    assert (await route(client, "低保咋个申请"))["rated"] is None  # for the assistant
    assert (await route(client, "3"))["rated"] is None  # a number: a form's answer, a pick
    assert (await route(client, "满意"))["rated"] == "satisfied"
    assert (await route(client, "非常满意"))["rated"] is None  # answered already: never twice
    assert rows(raw_db, "SELECT level FROM ratings") == [("satisfied",)]
    assert rows(raw_db, "SELECT count(*) FROM rectifications") == [(0,)]


async def test_an_invitation_lapses_after_a_week(client: TestClient, clock: FakeClock) -> None:
    await decided(client)
    clock.advance(8 * 86400)
    assert (await route(client, "非常不满意"))["rated"] is None


async def test_a_bad_rating_is_called_back_put_right_and_followed_up(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    clock.now = FRIDAY
    await decided(client)
    assert (await route(client, "非常不满意 电话打不通 13812345678"))[
        "rated"
    ] == "very_dissatisfied"
    ((task_id, callback_due, rectify_due),) = rows(
        raw_db, "SELECT id, callback_due, rectify_due FROM rectifications"
    )
    assert str(callback_due) == "2026-12-07"  # the next working day after a Friday
    assert str(rectify_due) == str(date(2026, 12, 25))  # fifteen working days
    await make_account(client, "wang")
    await log_in(client, "wang")
    listing = await (await client.get("/console/ratings")).text()
    assert "非常不满意" in listing and "138****5678" in listing and "13812345678" not in listing
    page = f"/console/ratings/{task_id}"
    assert (await post_form(client, page, page, step="rectified", notes="跳步")).status == 409
    assert (await post_form(client, page, page, step="called_back", notes="")).status == 400
    assert (
        await post_form(client, page, page, step="called_back", notes="已电话联系")
    ).status == 303
    assert (await post_form(client, page, page, step="rectified", notes="已补办")).status == 303
    assert "已电话联系" in await (await client.get(page)).text()
    invites = rows(raw_db, "SELECT round FROM ratings ORDER BY id")
    assert invites == [(1,), (2,)]
    assert (await route(client, "非常不满意"))["rated"] == "very_dissatisfied"  # the follow-up
    assert rows(raw_db, "SELECT count(*) FROM rectifications") == [(1,)]  # no second task


async def test_an_unhandled_bad_rating_is_overdue_after_its_working_day(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = FRIDAY
    await decided(client)
    await route(client, "不满意")
    await make_account(client, "wang")
    await log_in(client, "wang")
    assert 'class="late"' not in await (await client.get("/console/ratings")).text()
    clock.now = datetime(2026, 12, 8, 9, 0, tzinfo=CHINA_TZ)  # Monday was the deadline
    await log_in(client, "wang")  # a new day, a new session
    assert 'class="late"' in await (await client.get("/console/ratings")).text()


async def test_staff_of_another_township_do_not_see_the_task(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    clock.now = FRIDAY
    await decided(client)  # the application is from 牛佛镇
    await route(client, "非常不满意")
    ((task_id,),) = rows(raw_db, "SELECT id FROM rectifications")
    await make_account(client, "heshi", township="何市镇")
    await log_in(client, "heshi")
    assert "非常不满意" not in await (await client.get("/console/ratings")).text()
    assert (await client.get(f"/console/ratings/{task_id}")).status == 404


async def test_a_bad_rating_of_a_reply_leads_to_the_question_and_its_resident(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    """A trial: a 差评 of a staff reply showed no way to the question or the resident,
    although the resident is promised a call-back."""
    clock.now = FRIDAY
    response = await client.post(
        "/inbox/items",
        json=capture_body("路灯坏了找哪个修", channel="wechat", conversation_id="wechat:lamp"),
        headers=SERVICE_HEADERS,
    )
    group = (await response.json())["group_id"]
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = f"/console/inbox/{group}"
    await post_form(client, page, page, action="reply", reply="请找村委会或打12345。")
    rated = await route(client, "不满意 说了等于没说", conversation="wechat:lamp")
    assert rated["rated"] == "dissatisfied"
    ((task_id,),) = rows(raw_db, "SELECT id FROM rectifications")
    task_page = f"/console/ratings/{task_id}"
    assert f'href="/console/inbox/{group}"' in await (await client.get(task_page)).text()
    sent = await post_form(
        client, task_page, task_page, step="message", text="您好，方便留个电话吗？我们回访您。"
    )
    assert sent.status == 303 and sent.headers["Location"].startswith("/console/handoffs/")
    kinds = rows(
        raw_db, "SELECT kind FROM notifications WHERE conversation_id = 'wechat:lamp' ORDER BY id"
    )
    assert [kind for (kind,) in kinds] == ["staff_reply", "rating_invite", "handoff"]
    # A second trial: the resident's answer went to the assistant. Now it reaches staff.
    answer = await route(client, "方便 你下午打嘛 13912345678", conversation="wechat:lamp")
    assert answer["to_staff"] is True
    conversation = await (await client.get(sent.headers["Location"])).text()
    assert "方便 你下午打嘛" in conversation and "139****5678" in conversation
    assert "工作人员回访" in conversation


async def test_after_a_rectification_the_follow_up_rating_counts_and_says_why(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    clock.now = FRIDAY
    await decided(client)
    await route(client, "不满意")
    ((task_id,),) = rows(raw_db, "SELECT id FROM rectifications")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = f"/console/ratings/{task_id}"
    await post_form(client, page, page, step="called_back", notes="已回电")
    await post_form(client, page, page, step="rectified", notes="已补办")
    claimed = await client.post(
        "/notifications/claim",
        json={"channels": ["rest"], "limit": 50, "worker_id": "test-worker"},
        headers=SERVICE_HEADERS,
    )
    invites = [
        n["text"] for n in (await claimed.json())["notifications"] if n["kind"] == "rating_invite"
    ]
    assert len(invites) == 2 and "已经处理了" in invites[-1] and "已经处理了" not in invites[0]
    await route(client, "满意")
    response = await client.get("/console/dashboard/satisfaction.csv")
    _, row = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert row[3] == "1" and row[-1] == "100.0%"  # one service, rated 满意 after all
