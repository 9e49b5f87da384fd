"""Applications in the console: finding, masking, moving on with a notice, limits."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from console_helpers import log_in, make_account, post_form
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import ID_NUMBER, NAME, PHONE, FakeClock, create

from backend.tracking import CHINA_TZ

TUESDAY = datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ)


def rows(raw_db: Engine, query: str) -> list[Any]:
    with raw_db.connect() as connection:
        return connection.execute(text(query)).all()


async def signed_in(client: TestClient, township: str | None = None) -> None:
    await make_account(client, "wang", township=township)
    await log_in(client, "wang")


async def test_the_list_and_the_application_show_personal_data_masked(
    client: TestClient,
) -> None:
    number = (await create(client))["tracking_number"]
    await signed_in(client)
    listing = await (await client.get("/console/applications")).text()
    assert number in listing and NAME not in listing and "王*英" in listing
    page = await (await client.get(f"/console/applications/{number}")).text()
    assert ID_NUMBER not in page and PHONE not in page
    assert "5103**********1234" in page and "138****5678" in page


async def test_unmasking_an_application_is_logged_with_its_reason(
    client: TestClient, raw_db: Engine
) -> None:
    number = (await create(client))["tracking_number"]
    await signed_in(client)
    page = f"/console/applications/{number}"
    shown = await post_form(client, f"{page}/unmask", page, reason="电话核实材料")
    assert shown.status == 200
    body = await shown.text()
    assert ID_NUMBER in body and PHONE in body and NAME in body
    assert rows(raw_db, "SELECT target, reason FROM audit_log WHERE action='unmask'") == [
        (number, "电话核实材料")
    ]


async def test_searching_by_id_number_is_a_post_and_finds_the_persons_applications(
    client: TestClient, raw_db: Engine
) -> None:
    number = (await create(client))["tracking_number"]
    await create(client, key="other", id_number="510304195503120042", phone="13900001111")
    await signed_in(client)
    found = await post_form(
        client, "/console/applications/search", "/console/applications", term=ID_NUMBER
    )
    body = await found.text()
    assert number in body and "共 1 件" in body
    by_number = await post_form(
        client, "/console/applications/search", "/console/applications", term=number.lower()
    )
    assert by_number.headers["Location"] == f"/console/applications/{number}"
    assert rows(raw_db, "SELECT target FROM audit_log WHERE action='search_person'") == [
        ("id:5103**********1234",)
    ]


async def test_moving_an_application_on_notifies_the_resident_with_the_next_step(
    client: TestClient, raw_db: Engine
) -> None:
    number = (await create(client))["tracking_number"]
    await signed_in(client)
    page = f"/console/applications/{number}"
    moved = await post_form(client, f"{page}/transition", page, status="township_review")
    assert moved.status == 303
    assert "乡镇预审" in await (await client.get(page)).text()
    ((conversation, kind),) = rows(raw_db, "SELECT conversation_id, kind FROM notifications")
    assert (conversation, kind) == ("rest:conv-1", "status_change")
    history = rows(raw_db, "SELECT actor FROM status_history ORDER BY id")
    assert history[-1] == ("staff:wang",)


async def test_returning_needs_a_reason_and_a_wrong_step_is_refused(
    client: TestClient, raw_db: Engine
) -> None:
    number = (await create(client))["tracking_number"]
    await signed_in(client)
    page = f"/console/applications/{number}"
    assert (await post_form(client, f"{page}/transition", page, status="approved")).status == 409
    await post_form(client, f"{page}/transition", page, status="township_review")
    no_reason = await post_form(client, f"{page}/transition", page, status="returned")
    assert no_reason.status == 400
    assert "需要填写原因" in await no_reason.text()
    assert rows(raw_db, "SELECT count(*) FROM notifications") == [(1,)]


async def test_staff_limited_to_a_township_cannot_see_or_move_anothers(
    client: TestClient,
) -> None:
    ours = (await create(client, key="a", township="牛佛镇"))["tracking_number"]
    theirs = (await create(client, key="b", township="何市镇"))["tracking_number"]
    await signed_in(client, township="牛佛镇")
    listing = await (await client.get("/console/applications?township=何市镇")).text()
    assert ours in listing and theirs not in listing
    assert (await client.get(f"/console/applications/{theirs}")).status == 404
    move = await post_form(
        client,
        f"/console/applications/{theirs}/transition",
        "/console/applications",
        status="township_review",
    )
    assert move.status == 404
    found = await post_form(
        client, "/console/applications/search", "/console/applications", term=ID_NUMBER
    )
    body = await found.text()
    assert ours in body and theirs not in body


async def test_overdue_applications_are_counted_in_working_days(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 10, 30, 10, 0, tzinfo=CHINA_TZ)  # over 20 working days before 12-01
    old = (await create(client, key="old"))["tracking_number"]
    clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=CHINA_TZ)
    young = (await create(client, key="young", id_number="510304195503120042"))["tracking_number"]
    clock.now = TUESDAY
    await signed_in(client)
    overdue = await (await client.get("/console/applications?overdue=1")).text()
    assert old in overdue and young not in overdue


async def test_new_applications_are_taken_into_review_in_bulk_and_only_those(
    client: TestClient, raw_db: Engine
) -> None:
    first = (await create(client, key="a"))["tracking_number"]
    second = (await create(client, key="b", id_number="510304195503120042"))["tracking_number"]
    elsewhere = (await create(client, key="c", id_number="510304194801150026", township="何市镇"))[
        "tracking_number"
    ]
    await signed_in(client, township="牛佛镇")
    page = f"/console/applications/{second}"
    await post_form(client, f"{page}/transition", page, status="township_review")
    token_page = await (await client.get("/console/applications")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', token_page).group(1)
    response = await client.post(
        "/console/applications/bulk",
        data=[
            ("csrf_token", token),
            ("tracking_number", first),
            ("tracking_number", second),  # already in review: left alone
            ("tracking_number", elsewhere),  # another township's: left alone
        ],
        allow_redirects=False,
    )
    assert response.headers["Location"].endswith("moved=1")
    statuses = dict(rows(raw_db, "SELECT tracking_number, status FROM applications"))
    assert statuses == {first: "township_review", second: "township_review", elsewhere: "submitted"}
    kinds = rows(raw_db, "SELECT kind FROM notifications")
    assert len(kinds) == 2  # one notice per change: the single one and the bulk one
