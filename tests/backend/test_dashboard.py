"""The dashboard's figures: containment from turn counts, handoffs, applications by state
and overdue, satisfaction, 差评 rectified on time; each table exported as CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from console_helpers import log_in, make_account
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import SERVICE_HEADERS, FakeClock, create, transition

from backend.tracking import CHINA_TZ

TUESDAY = datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ)


async def send_turns(client: TestClient, batch: str, counts: list[dict[str, Any]]) -> Any:
    return await client.post(
        "/metrics/turns", json={"batch_id": batch, "counts": counts}, headers=SERVICE_HEADERS
    )


def count(day: str, outcome: str, n: int, channel: str = "wechat") -> dict[str, Any]:
    return {"day": day, "channel": channel, "outcome": outcome, "count": n}


async def table(client: TestClient, name: str) -> list[list[str]]:
    response = await client.get(f"/console/dashboard/{name}.csv")
    assert response.status == 200
    return list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))


async def test_turn_batches_are_added_once(client: TestClient, raw_db: Engine) -> None:
    batch = [count("2026-12-01", "answered", 7), count("2026-12-01", "fallback", 2)]
    first = await send_turns(client, "batch-0001", batch)
    again = await send_turns(client, "batch-0001", batch)
    later = await send_turns(client, "batch-0002", [count("2026-12-01", "answered", 1)])
    assert (first.status, again.status, later.status) == (201, 200, 201)
    with raw_db.connect() as connection:
        rows = dict(connection.execute(text("SELECT outcome, count FROM turn_counts")).all())
    assert rows == {"answered": 8, "fallback": 2}


async def test_bad_turn_counts_are_refused(client: TestClient) -> None:
    for counts in (
        [count("2026-12-01", "laughed", 1)],
        [count("yesterday", "answered", 1)],
        [count("2026-12-01", "answered", 0)],
        [count("2026-12-01", "answered", 1, channel="sms")],
        [],
    ):
        assert (await send_turns(client, "batch-0003", counts)).status == 400


async def test_the_containment_rate_counts_referrals_as_answers(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = TUESDAY
    await send_turns(
        client,
        "batch-0001",
        [
            count("2026-12-01", "answered", 6),
            count("2026-12-01", "out_of_scope", 2),
            count("2026-12-01", "clarified", 1),
            count("2026-12-01", "fallback", 1, channel="rest"),
            count("2026-12-01", "form", 7),  # answers inside forms: no questions
        ],
    )
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = await client.get("/console/dashboard")
    assert page.status == 200 and 'id="turns-data"' in await page.text()
    header, *rows = await table(client, "turns")
    today = next(row for row in rows if row[0] == "2026-12-01")
    assert dict(zip(header, today, strict=True)) == {
        "日期": "2026-12-01",
        "问题数": "10",
        "直接答上": "8",
        "猜了几个": "1",
        "没答上": "1",
        "要求转人工（次）": "0",
        "直接答上比例": "80.0%",
    }


async def test_applications_satisfaction_and_rectification_follow_the_data(
    client: TestClient, clock: FakeClock, raw_db: Engine
) -> None:
    clock.now = TUESDAY
    number = (await create(client))["tracking_number"]
    await create(client, key="second", id_number="510304195503120042", township="何市镇")
    for status in ("township_review", "district_review", "approved"):
        await transition(client, number, status)
    answer = await client.post(
        "/handoffs/route",
        json={"conversation_id": "rest:conv-1", "text": "不满意 太慢了"},
        headers=SERVICE_HEADERS,
    )
    assert (await answer.json())["rated"] == "dissatisfied"
    await make_account(client, "wang")
    await log_in(client, "wang")
    applications = {row[0]: row for row in (await table(client, "applications"))[1:]}
    elderly = applications["老年人优待证"]
    assert elderly[1:4] == ["1", "0", "0"]  # one submitted (the second), none in review
    _, satisfaction = await table(client, "satisfaction")
    assert satisfaction[:4] == ["2026-12", "老年人优待证", "牛佛镇", "1"]
    assert satisfaction[-1] == "0.0%"
    _, rectifications = await table(client, "rectifications")
    assert rectifications == ["1", "0", "0", "—", "0"]
    with raw_db.connect() as connection:
        exports = connection.execute(
            text("SELECT target FROM audit_log WHERE action = 'export' ORDER BY id")
        ).all()
    assert [target for (target,) in exports] == [
        "dashboard:applications",
        "dashboard:satisfaction",
        "dashboard:rectifications",
    ]


async def test_a_township_sees_its_own_figures(client: TestClient, clock: FakeClock) -> None:
    clock.now = TUESDAY
    await create(client, key="niufo", township="牛佛镇")
    await create(client, key="heshi", id_number="510304195503120042", township="何市镇")
    await make_account(client, "heshi", township="何市镇")
    await log_in(client, "heshi")
    applications = {row[0]: row for row in (await table(client, "applications"))[1:]}
    assert applications["老年人优待证"][1] == "1"


async def test_an_unknown_table_is_not_found(client: TestClient) -> None:
    await make_account(client, "wang")
    await log_in(client, "wang")
    assert (await client.get("/console/dashboard/secrets.csv")).status == 404
