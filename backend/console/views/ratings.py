"""Ratings (好差评): the 差评 to call back and put right, overdue ones first to the eye."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from backend.api.common import HANDOFFS, RATINGS, STORE
from backend.console.display import for_staff
from backend.console.security import STAFF
from backend.console.views.auth import who
from backend.errors import ApiError
from backend.ratings.levels import LEVEL_LABELS
from backend.ratings.operations import overdue
from backend.ratings.states import (
    APPLICATION,
    INBOX,
    SUBJECT_LABELS,
    TASK_LABELS,
    TASK_STATES,
)
from backend.tracking import local_day

routes = web.RouteTableDef()

TASK = "{task_id:[0-9]{1,12}}"
MESSAGE_MAX = 500


def about(subject: str, ref: str) -> str:
    """Where in the console the rated service is: the application, the answered group
    of questions, or the handoff."""
    if subject == APPLICATION:
        return f"/console/applications/{ref}"
    if subject == INBOX:
        return f"/console/inbox/{ref.partition(':')[0]}"
    return f"/console/handoffs/{ref}"


def _labels() -> dict[str, Any]:
    return {"LEVELS": LEVEL_LABELS, "SUBJECTS": SUBJECT_LABELS, "TASKS": TASK_LABELS}


@routes.get("/ratings")
@aiohttp_jinja2.template("ratings.html")
async def tasks_page(request: web.Request) -> dict[str, Any]:
    state = request.query.get("state")
    state = state if state in TASK_STATES else None
    ratings = request.config_dict[RATINGS]
    today = local_day(request.config_dict[STORE].clock())
    tasks = await ratings.tasks(request[STAFF], state)
    rows = [
        {
            "task": task,
            "overdue": overdue(task, today),
            "comment": for_staff(ratings.comment(task.rating) or ""),
        }
        for task in tasks
    ]
    rows.sort(key=lambda row: (not row["overdue"], row["task"].opened_at))
    return {"nav": "ratings", "rows": rows, "state": state, **_labels()}


async def _task_context(request: web.Request, error: str | None = None) -> dict[str, Any]:
    ratings = request.config_dict[RATINGS]
    task = await ratings.task(int(request.match_info["task_id"]), request[STAFF])
    today = local_day(request.config_dict[STORE].clock())
    return {
        "nav": "ratings",
        "task": task,
        "about": about(task.rating.subject, task.rating.subject_ref),
        "overdue": overdue(task, today),
        "comment": for_staff(ratings.comment(task.rating) or ""),
        "notes": ratings.notes(task) or "",
        "error": error,
        **_labels(),
    }


@routes.get(f"/ratings/{TASK}")
@aiohttp_jinja2.template("rating.html")
async def task_page(request: web.Request) -> dict[str, Any]:
    try:
        return await _task_context(request)
    except ApiError:
        raise web.HTTPNotFound(text="没有这个整改任务") from None


async def _reach_out(request: web.Request, task_id: int, text: str) -> web.StreamResponse:
    """Write to the resident of a 差评: a conversation with them opens in 人工服务, so
    their answer comes back to staff."""
    text = text.strip()
    if not 2 <= len(text) <= MESSAGE_MAX:
        raise ApiError(400, "invalid_field", f"请写 2–{MESSAGE_MAX} 个字")
    rating = (await request.config_dict[RATINGS].task(task_id, request[STAFF])).rating
    if rating.conversation_id.endswith(":erased"):
        raise ApiError(409, "erased", "居民已删除聊天记录，无法再发消息")
    handoff = await request.config_dict[HANDOFFS].reach_out(
        rating.conversation_id, rating.township, request[STAFF], text, who(request)
    )
    raise web.HTTPSeeOther(f"/console/handoffs/{handoff.id}")


@routes.post(f"/ratings/{TASK}")
async def advance(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    ratings = request.config_dict[RATINGS]
    task_id = int(request.match_info["task_id"])
    notes = str(form.get("notes", ""))
    try:
        if form.get("step") == "message":
            return await _reach_out(request, task_id, str(form.get("text", "")))
        if form.get("step") == "called_back":
            await ratings.called_back(task_id, request[STAFF], notes, who(request))
        else:
            await ratings.rectified(task_id, request[STAFF], notes, who(request))
    except ApiError as refused:
        if refused.status == 404:
            raise web.HTTPNotFound(text="没有这个整改任务") from None
        response = aiohttp_jinja2.render_template(
            "rating.html", request, await _task_context(request, refused.message)
        )
        response.set_status(refused.status)
        return response
    raise web.HTTPSeeOther(f"/console/ratings/{task_id}")
