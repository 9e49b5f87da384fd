"""The inbox: questions the assistant could not answer, grouped; what staff do with them.

Staff limited to a township see only the questions asked from it (the conversation named
the place); district staff and admins see all. Texts are masked; the full text of one
question is shown only on an explicit request with a reason, which is logged.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiMapping

from backend.api.common import INBOX, KNOWLEDGE, STORE
from backend.console.display import for_staff, plain
from backend.console.keys import AUDIT, CONVERSATIONS, LABELS
from backend.console.labels import Label
from backend.console.security import STAFF
from backend.console.views.auth import who
from backend.contract import CAPTURE_REASONS, CHANNELS, TOWNSHIPS
from backend.errors import ApiError
from backend.inbox.operations import GroupRow, Handling, InboxFilters
from backend.inbox.states import ASSIGNED, DISMISSED, DRAFTED, INBOX_GROUP_STATES, OPEN, REPLIED
from backend.learning.answers import AnswerText, answer_from
from backend.learning.states import APPROVED
from backend.models import InboxItem
from backend.tracking import local_day

routes = web.RouteTableDef()

PAGE_SIZE = 30
CHART_DAYS = 30
TOP_MISSED = 10
SAMPLES = 10
CONTEXTS = 3  # samples shown with the conversation around them
EXPORT_LIMIT = 5000
DRAFT_TOPIC = re.compile(r"[a-z][a-z0-9_]{2,40}")
SHARED_GROUP = "这组问题里也有其他乡镇或没说乡镇的居民，请区里的同事处理。"


def _choice(value: str | None, allowed: tuple[str, ...] | frozenset[str]) -> str | None:
    return value if value in allowed else None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters_from(query: MultiMapping[str], township_limit: str | None) -> InboxFilters:
    """The listing's filters from the query; a limited staff member's township wins."""
    state = query.get("state", OPEN)
    return InboxFilters(
        channel=_choice(query.get("channel"), CHANNELS),
        township=township_limit or _choice(query.get("township"), TOWNSHIPS),
        reason=_choice(query.get("reason"), CAPTURE_REASONS),
        state=None if state == "all" else _choice(state, INBOX_GROUP_STATES) or OPEN,
        since=_day(query.get("since")),
        until=_day(query.get("until")),
    )


def page_number(query: MultiMapping[str]) -> int:
    raw = query.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


def masked(cipher: Any, token: str | None) -> str:
    return "" if token is None else for_staff(cipher.decrypt(token))


def _row(row: GroupRow, cipher: Any) -> dict[str, Any]:
    return {
        "id": row.group.id,
        "state": row.group.state,
        "count": row.count,
        "last_seen_at": row.last_seen_at,
        "sample": masked(cipher, row.sample.text_enc),
        "channel": row.sample.channel,
        "reason": row.sample.reason,
        "top_label": row.sample.top_label,
    }


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/inbox")


@routes.get("/inbox")
@aiohttp_jinja2.template("inbox.html")
async def inbox_page(request: web.Request) -> dict[str, Any]:
    staff = request[STAFF]
    filters = filters_from(request.query, staff.township)
    page = page_number(request.query)
    inbox = request.config_dict[INBOX]
    cipher = request.config_dict[STORE].cipher
    (rows, total), per_day, missed = await asyncio.gather(
        inbox.groups(filters, PAGE_SIZE, (page - 1) * PAGE_SIZE),
        inbox.per_day(filters, CHART_DAYS),
        inbox.top_missed(filters, TOP_MISSED),
    )
    titles = {label.name: label.title for label in request.config_dict[LABELS]}
    chart = {
        "days": [day.strftime("%m-%d") for day, _ in per_day],
        "counts": [count for _, count in per_day],
    }
    return {
        "rows": [_row(row, cipher) for row in rows],
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "filters": filters,
        "query_string": urlencode([(k, v) for k, v in request.query.items() if k != "page"]),
        "chart_json": json.dumps(chart, ensure_ascii=False),
        "missed": [(label, titles.get(label, label), count) for label, count in missed],
        "titles": titles,
    }


def _item(item: InboxItem, cipher: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "text": masked(cipher, item.text_enc),
        "reply": masked(cipher, item.reply_enc),
        "channel": item.channel,
        "reason": item.reason,
        "township": item.township,
        "occurred_at": item.occurred_at,
        "intents": json.loads(item.intents),
        "topics": json.loads(item.topics),
        "model": item.model,
        "conversation_id": item.conversation_id,
    }


async def _group_context(request: web.Request, group_id: int) -> dict[str, Any]:
    staff = request[STAFF]
    group, items = await request.config_dict[INBOX].group(group_id, staff.township, SAMPLES)
    cipher = request.config_dict[STORE].cipher
    conversations = request.config_dict[CONVERSATIONS]
    excerpts = await asyncio.gather(
        *(
            conversations.excerpt(item.conversation_id, item.occurred_at)
            for item in items[:CONTEXTS]
        )
    )
    # A topic an admin approved in the console is offered too, before it reaches git.
    approved = [
        Label(a.topic, a.title)
        for a in await request.config_dict[KNOWLEDGE].answers()
        if a.state == APPROVED and a.new_label
    ]
    labels = (*request.config_dict[LABELS], *approved)
    return {
        "group": group,
        "items": [_item(item, cipher) for item in items],
        "excerpts": excerpts,
        "labels": labels,
        "titles": {label.name: label.title for label in labels},
        "reply": masked(cipher, group.reply_enc),
        "earlier_reply": await request.config_dict[INBOX].earlier_reply(group),
        "draft": json.loads(group.draft) if group.draft else None,
        "error": None,
        "today": local_day(request.config_dict[STORE].clock()).isoformat(),
    }


@routes.get("/inbox/{group_id:[0-9]{1,12}}")
@aiohttp_jinja2.template("group.html")
async def group_page(request: web.Request) -> dict[str, Any]:
    return await _group_context(request, int(request.match_info["group_id"]))


def _text(form: MultiMapping[Any], field: str, max_length: int) -> str:
    value = str(form.get(field, "")).strip()
    if not value:
        raise ApiError(400, "invalid_field", "请填写完整", field=field)
    if len(value) > max_length:
        raise ApiError(400, "invalid_field", f"最多 {max_length} 个字", field=field)
    return value


def _draft(form: MultiMapping[Any], known: set[str], today: date) -> dict[str, str]:
    topic = str(form.get("topic", "")).strip()
    if not DRAFT_TOPIC.fullmatch(topic):
        raise ApiError(
            400, "invalid_field", "问答编号用小写字母、数字和下划线，如 pension_transfer"
        )
    if f"faq/{topic}" in known:
        raise ApiError(400, "invalid_field", "已经有这个问答了，请用“归入”")
    answer = answer_from({**form, "topic": f"faq/{topic}"}, today)
    return {
        "topic": answer.topic,
        "title": answer.title,
        "answer": answer.text,
        "source": answer.source,
        "reviewed": answer.reviewed.isoformat(),
    }


def handling_from(
    form: MultiMapping[Any], township: str | None, known: set[str], today: date
) -> Handling:
    action = form.get("action")
    if action == "reply":
        return Handling(REPLIED, township, reply=_text(form, "reply", 500))
    if action == "assign":
        label = str(form.get("label", ""))
        if label not in known:
            raise ApiError(400, "invalid_field", "请从列表里选一个意图或问答")
        return Handling(ASSIGNED, township, label=label)
    if action == "draft":
        draft = _draft(form, known, today)
        return Handling(DRAFTED, township, label=draft["topic"], draft=draft)
    if action == "dismiss":
        return Handling(DISMISSED, township, dismiss_reason=_text(form, "reason", 200))
    raise ApiError(400, "invalid_field", "未知的操作")


async def known_labels(request: web.Request) -> set[str]:
    """The assistant's labels and the topics answered in the console since."""
    answers = await request.config_dict[KNOWLEDGE].answers()
    return {label.name for label in request.config_dict[LABELS]} | {a.topic for a in answers}


def drafted_answer(draft: dict[str, str]) -> AnswerText:
    return AnswerText(
        draft["topic"],
        draft["title"],
        draft["answer"],
        draft["source"],
        date.fromisoformat(draft["reviewed"]),
    )


@routes.post("/inbox/{group_id:[0-9]{1,12}}")
async def handle_group(request: web.Request) -> web.StreamResponse:
    group_id = int(request.match_info["group_id"])
    staff = request[STAFF]
    known = await known_labels(request)
    today = local_day(request.config_dict[STORE].clock())
    inbox = request.config_dict[INBOX]
    try:
        # A limited staff member acts only on a group they can see, and settles it only
        # when every question in it is from their township: the group is everyone's.
        await inbox.group(group_id, staff.township, 1)
        if staff.township is not None and await inbox.places(group_id) != {staff.township}:
            raise ApiError(403, "shared_group", SHARED_GROUP)
        handling = handling_from(await request.post(), staff.township, known, today)
        await inbox.handle(group_id, handling, who(request))
        if handling.draft is not None:
            await request.config_dict[KNOWLEDGE].write(
                drafted_answer(handling.draft),
                who(request),
                approved=staff.is_admin,
                group_id=group_id,
            )
    except ApiError as refused:
        if refused.status == 404:
            raise web.HTTPNotFound(text="没有这组问题") from None
        context = await _group_context(request, group_id)
        context["error"] = refused.message
        response = aiohttp_jinja2.render_template("group.html", request, context)
        response.set_status(refused.status)
        return response
    raise web.HTTPSeeOther(f"/console/inbox/{group_id}")


@routes.post("/inbox/items/{item_id:[0-9]{1,12}}/unmask")
async def unmask_item(request: web.Request) -> web.StreamResponse:
    """The full text of one question, for a stated reason, recorded in the audit log."""
    staff = request[STAFF]
    item = await _visible_item(request, int(request.match_info["item_id"]))
    reason = str((await request.post()).get("reason", "")).strip()
    if not 2 <= len(reason) <= 200:
        raise web.HTTPBadRequest(text="查看完整内容要写明原因（2–200 字）")
    await request.config_dict[AUDIT].record(
        who(request), "unmask", target=f"inbox_item:{item.id}", reason=reason
    )
    cipher = request.config_dict[STORE].cipher
    context = {
        "item": item,
        "text": plain(cipher.decrypt(item.text_enc)),
        "reply": "" if item.reply_enc is None else plain(cipher.decrypt(item.reply_enc)),
        "reason": reason,
        "staff_place": staff.place_label,
    }
    return aiohttp_jinja2.render_template("unmasked.html", request, context)


async def _visible_item(request: web.Request, item_id: int) -> InboxItem:
    township = request[STAFF].township
    try:
        item = await request.config_dict[INBOX].item(item_id)
    except ApiError:
        raise web.HTTPNotFound(text="没有这条记录") from None
    if township is not None and item.township != township:
        raise web.HTTPNotFound(text="没有这条记录")
    return item


@routes.get("/inbox.csv")
async def export_inbox(request: web.Request) -> web.StreamResponse:
    """The listing as CSV (masked), for the filters given; the export is logged."""
    staff = request[STAFF]
    filters = filters_from(request.query, staff.township)
    rows, _ = await request.config_dict[INBOX].groups(filters, EXPORT_LIMIT, 0)
    cipher = request.config_dict[STORE].cipher
    await request.config_dict[AUDIT].record(who(request), "export", target="inbox")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["编号", "问题（已遮盖）", "次数", "最近一次", "渠道", "原因", "模型猜测", "状态"]
    )
    for row in rows:
        data = _row(row, cipher)
        writer.writerow(
            [
                data["id"],
                _csv_safe(data["sample"]),
                data["count"],
                data["last_seen_at"].isoformat(),
                data["channel"],
                data["reason"],
                data["top_label"] or "",
                data["state"],
            ]
        )
    return web.Response(
        body=("\ufeff" + buffer.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="inbox.csv"'},
    )


def _csv_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
