"""The inbox as staff use it: grouped questions, township limits, handling, unmasking."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from console_helpers import log_in, make_account, post_form
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import SERVICE_HEADERS, FakeClock, capture_body

from backend.api.common import INBOX
from backend.inbox.operations import InboxFilters
from backend.tracking import CHINA_TZ

ID_NUMBER = "510304195503120042"
PHONE = "13812345678"


async def capture(client: TestClient, question: str, **overrides: Any) -> int:
    response = await client.post(
        "/inbox/items", json=capture_body(question, **overrides), headers=SERVICE_HEADERS
    )
    assert response.status == 201
    return (await response.json())["group_id"]


def rows(raw_db: Engine, query: str, **params: Any) -> list[Any]:
    with raw_db.connect() as connection:
        return connection.execute(text(query), params).all()


async def test_the_same_question_asked_many_ways_is_one_row_with_its_count(
    client: TestClient,
) -> None:
    for number, wording in enumerate(["低保咋个申请嘛", "低保咋个申请？", "低保 咋个申请哦"] * 2):
        await capture(client, wording, conversation_id=f"rest:default:r{number}")
    await capture(client, "我家猫跑了咋个办")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = await (await client.get("/console/inbox")).text()
    assert "共 2 组问题" in page
    assert re.search(r'class="num">6<', page)
    assert re.search(r'class="num">1<', page)


async def test_personal_data_is_masked_in_the_listing_and_the_group(client: TestClient) -> None:
    group = await capture(client, f"我身份证{ID_NUMBER} 电话{PHONE} 查不到")
    await make_account(client, "wang")
    await log_in(client, "wang")
    for path in ("/console/inbox", f"/console/inbox/{group}"):
        page = await (await client.get(path)).text()
        assert ID_NUMBER not in page and PHONE not in page, path
        assert "5103**********0042" in page and "138****5678" in page, path


async def test_unmasking_needs_a_reason_and_is_logged(client: TestClient, raw_db: Engine) -> None:
    group = await capture(client, f"我身份证{ID_NUMBER}查不到")
    await make_account(client, "wang")
    await log_in(client, "wang")
    (item_id,) = rows(raw_db, "SELECT id FROM inbox_items")[0]
    path = f"/console/inbox/items/{item_id}/unmask"
    page = f"/console/inbox/{group}"
    assert (await post_form(client, path, page, reason="")).status == 400
    shown = await post_form(client, path, page, reason="回电核实")
    assert shown.status == 200
    assert ID_NUMBER in await shown.text()
    logged = rows(raw_db, "SELECT username, target, reason FROM audit_log WHERE action='unmask'")
    assert logged == [("wang", f"inbox_item:{item_id}", "回电核实")]


async def test_staff_limited_to_a_township_see_only_its_questions(
    client: TestClient, raw_db: Engine
) -> None:
    ours = await capture(client, "牛佛的低保咋个申请", township="牛佛镇")
    theirs = await capture(client, "何市的危房改造补好多钱", township="何市镇")
    await make_account(client, "niufo", township="牛佛镇")
    await log_in(client, "niufo")
    listing = await (await client.get("/console/inbox?township=何市镇")).text()
    assert "牛佛的低保" in listing and "何市的危房" not in listing
    assert (await client.get(f"/console/inbox/{ours}")).status == 200
    assert (await client.get(f"/console/inbox/{theirs}")).status == 404
    (their_item,) = rows(raw_db, "SELECT id FROM inbox_items WHERE township='何市镇'")[0]
    unmask = await post_form(
        client, f"/console/inbox/items/{their_item}/unmask", "/console/inbox", reason="好奇"
    )
    assert unmask.status == 404
    dismiss = await post_form(
        client, f"/console/inbox/{theirs}", "/console/inbox", action="dismiss", reason="x"
    )
    assert dismiss.status == 404
    export = await (await client.get("/console/inbox.csv")).text()
    assert "牛佛的低保" in export and "何市的危房" not in export


async def test_a_reply_is_queued_for_every_resident_of_the_group_once(
    client: TestClient, raw_db: Engine
) -> None:
    for resident in ("a", "b", "b"):
        group = await capture(
            client, "养老保险断交了咋个补", conversation_id=f"rest:default:{resident}"
        )
    await capture(
        client, "养老保险断交了咋个补", conversation_id="wechat:openid-c", channel="wechat"
    )
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = f"/console/inbox/{group}"
    reply = "断交的可以到户籍所在乡镇便民服务中心咨询补缴，带身份证。"
    response = await post_form(client, page, page, action="reply", reply=reply)
    assert response.status == 303
    notices = rows(raw_db, "SELECT conversation_id, kind FROM notifications ORDER BY id")
    # Each resident: the reply, then the invitation to rate it.
    assert sorted(notices) == [
        ("rest:default:a", "rating_invite"),
        ("rest:default:a", "staff_reply"),
        ("rest:default:b", "rating_invite"),
        ("rest:default:b", "staff_reply"),
        ("wechat:openid-c", "rating_invite"),
        ("wechat:openid-c", "staff_reply"),
    ]
    for resident in ("rest:default:a", "rest:default:b", "wechat:openid-c"):
        kinds = [kind for conversation, kind in notices if conversation == resident]
        assert kinds == ["staff_reply", "rating_invite"]
    shown = await (await client.get(page)).text()
    assert "已回复" in shown and reply in shown
    assert rows(raw_db, "SELECT username, target FROM audit_log WHERE action='inbox_reply'") == [
        ("wang", f"inbox_group:{group}")
    ]


async def test_a_group_is_handled_once(client: TestClient) -> None:
    group = await capture(client, "测试测试")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = f"/console/inbox/{group}"
    first = await post_form(client, page, page, action="dismiss", reason="测试消息")
    second = await post_form(client, page, page, action="assign", label="greet")
    assert first.status == 303
    assert second.status == 409
    assert "已经有人处理过了" in await second.text()


async def test_assigning_takes_only_a_label_the_assistant_knows(
    client: TestClient, raw_db: Engine
) -> None:
    group = await capture(client, "低保那个咋整")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = f"/console/inbox/{group}"
    assert (
        await post_form(client, page, page, action="assign", label="faq/nonsense")
    ).status == 400
    ok = await post_form(client, page, page, action="assign", label="faq/subsistence_process")
    assert ok.status == 303
    assert rows(raw_db, "SELECT state, label FROM inbox_groups") == [
        ("assigned", "faq/subsistence_process")
    ]


async def test_a_drafted_faq_needs_an_answer_source_and_review_date(
    client: TestClient, raw_db: Engine
) -> None:
    group = await capture(client, "养老金资格认证咋个弄")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = f"/console/inbox/{group}"
    draft = {
        "action": "draft",
        "topic": "pension_certification",
        "title": "养老金资格认证咋个弄",
        "answer": "用国家社会保险公共服务平台或“四川e社保”刷脸认证，也可到乡镇便民服务中心办。",
        "source": "人社部 社会保险待遇资格认证经办规程",
        "reviewed": "2026-11-30",
    }
    for broken in (
        {"source": ""},
        {"answer": "长" * 201},
        {"reviewed": "2999-01-01"},
        {"topic": "Bad Topic"},
        {"topic": "subsistence_process"},  # exists already
    ):
        response = await post_form(client, page, page, **{**draft, **broken})
        assert response.status == 400, broken
    assert (await post_form(client, page, page, **draft)).status == 303
    ((state, label, stored),) = rows(raw_db, "SELECT state, label, draft FROM inbox_groups")
    assert (state, label) == ("drafted", "faq/pension_certification")
    assert "人社部" in stored


async def test_the_export_is_masked_logged_and_safe_for_spreadsheets(
    client: TestClient, raw_db: Engine
) -> None:
    await capture(client, f'=HYPERLINK("x") 我电话{PHONE}')
    await make_account(client, "wang")
    await log_in(client, "wang")
    response = await client.get("/console/inbox.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    body = (await response.read()).decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(body)))
    assert header[1] == "问题（已遮盖）"
    assert row[1].startswith("'=") and PHONE not in row[1]
    assert rows(raw_db, "SELECT username FROM audit_log WHERE action='export'") == [("wang",)]


async def test_the_chart_and_missed_topics_count_the_unanswered(client: TestClient) -> None:
    await capture(
        client, "低保咋个申请", topics=[{"name": "faq/subsistence_process", "confidence": 0.3}]
    )
    await capture(
        client, "老年证在哪办", topics=[{"name": "faq/subsistence_process", "confidence": 0.2}]
    )
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = await (await client.get("/console/inbox")).text()
    data = re.search(r'id="per-day-data">(.*?)</script>', page).group(1)
    assert (
        '"counts"' in data
        and sum(int(n) for n in re.findall(r"\d+", data.split('"counts"')[1])) == 2
    )
    assert re.search(r"低保申请流程.*?<b>2</b>", page, re.S)


async def test_questions_are_counted_on_their_day_in_china(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ)
    await capture(client, "晚上问的", occurred_at="2026-11-30T23:30:00+08:00")
    await capture(client, "半夜问的", occurred_at="2026-11-30T16:30:00+00:00")  # 00:30 in China
    per_day = dict(await client.app[INBOX].per_day(InboxFilters(state=None), 3))
    assert per_day == {date(2026, 11, 29): 0, date(2026, 11, 30): 1, date(2026, 12, 1): 1}


async def test_a_long_listing_is_paged_keeping_its_filters(client: TestClient) -> None:
    for index in range(31):  # PAGE_SIZE + 1 questions that share no bigram
        question = "".join(chr(0x4E00 + index * 97 + offset) for offset in range(4))
        await capture(client, question, channel="wechat", conversation_id=f"wechat:r{index}")
    await make_account(client, "wang")
    await log_in(client, "wang")
    first = await (await client.get("/console/inbox?channel=wechat")).text()
    assert "第 1 / 2 页" in first and "?channel=wechat&page=2" in first
    second = await (await client.get("/console/inbox?channel=wechat&page=2")).text()
    assert second.count('class="num"') == 1


async def test_township_staff_cannot_settle_a_group_other_places_share(
    client: TestClient, raw_db: Engine
) -> None:
    """A trial: a 牛佛镇 account dismissed a group of four questions, three of them from
    no place, and the district's inbox lost them all."""
    group = await capture(client, "转人工", township="牛佛镇", conversation_id="rest:default:n")
    await capture(client, "转人工", conversation_id="rest:default:x")
    await make_account(client, "niufo", township="牛佛镇")
    await log_in(client, "niufo")
    page = f"/console/inbox/{group}"
    for action in (
        {"action": "dismiss", "reason": "测试"},
        {"action": "reply", "reply": "您好"},
        {"action": "assign", "label": "ask_human"},
    ):
        response = await post_form(client, page, page, **action)
        assert response.status == 403, action
        assert "其他乡镇" in await response.text()
    assert rows(raw_db, "SELECT state FROM inbox_groups") == [("open",)]
    assert rows(raw_db, "SELECT count(*) FROM notifications") == [(0,)]


async def test_bidirectional_controls_in_residents_text_are_not_shown(client: TestClient) -> None:
    group = await capture(client, "查\u202euohz\u202c 低保")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = await (await client.get(f"/console/inbox/{group}")).text()
    assert "\u202e" not in page and "查uohz 低保" in page


async def test_a_question_with_control_characters_is_kept_not_refused(
    client: TestClient, raw_db: Engine
) -> None:
    """A refused capture went to the outbox's dead letters: the question was lost."""
    await capture(client, "低保\x07咋个\x00申请")
    await make_account(client, "wang")
    await log_in(client, "wang")
    assert "低保 咋个 申请" in await (await client.get("/console/inbox")).text()


async def test_a_resident_rephrasing_after_the_fallback_stays_in_one_group(
    client: TestClient,
) -> None:
    """A trial: one resident's three wordings of one question made three groups; a
    second trial: a time window also joined an answer given four turns later."""
    resident = "wechat:elderly-resident"
    first = capture_body("今年过年社区发不发米发油嘛", channel="wechat", conversation_id=resident)
    again = capture_body(
        "听说过年慰问有东西领 我们老年人领得到不",
        channel="wechat",
        conversation_id=resident,
        follows=first["capture_id"],
    )
    later = capture_body("方便 你打嘛", channel="wechat", conversation_id=resident)  # no follows
    groups = []
    for body in (first, again, later):
        response = await client.post("/inbox/items", json=body, headers=SERVICE_HEADERS)
        groups.append((await response.json())["group_id"])
    assert groups[0] == groups[1]
    assert groups[2] != groups[0]  # answered turns came between: a new question
    stranger = capture_body(
        "春节慰问品啥时候发", conversation_id="rest:default:someone", follows=first["capture_id"]
    )
    response = await client.post("/inbox/items", json=stranger, headers=SERVICE_HEADERS)
    assert (await response.json())["group_id"] != groups[0]  # not the same conversation


async def test_a_short_question_inside_a_longer_one_joins_its_group(client: TestClient) -> None:
    long = await capture(client, "我们村口那个路灯坏了半个月了找哪个修嘛")
    short = await capture(client, "路灯坏了找哪个", conversation_id="rest:default:b")
    unrelated = await capture(client, "低保", conversation_id="rest:default:c")
    assert long == short and unrelated != long


async def test_a_question_like_one_answered_before_offers_that_reply(
    client: TestClient, raw_db: Engine
) -> None:
    group = await capture(client, "路灯坏了找哪个修", conversation_id="rest:default:first")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = f"/console/inbox/{group}"
    answer = "路灯请找村委会（社区），或打12345报修。"
    await post_form(client, page, page, action="reply", reply=answer)
    newer = await capture(client, "路灯坏了找哪个修嘛", conversation_id="rest:default:new")
    assert newer != group  # an answered group takes no more questions
    shown = await (await client.get(f"/console/inbox/{newer}")).text()
    assert "以前回复过" in shown and answer in shown
    # Erasing the answered group's only resident leaves the newer group intact.
    await client.post(
        "/conversations/erase",
        json={"conversation_id": "rest:default:first"},
        headers=SERVICE_HEADERS,
    )
    assert rows(raw_db, "SELECT similar_to FROM inbox_groups") == [(None,)]
