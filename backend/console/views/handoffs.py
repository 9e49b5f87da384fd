"""Handoffs: the queue of residents who asked for a person, and the conversation with one.

The conversation page shows what the resident said to the assistant before (from the
tracker, masked) and the handoff's own messages, and polls for new ones every few
seconds; a staff member who took the conversation answers from there.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from backend.api.common import HANDOFFS, STORE
from backend.console.display import for_staff
from backend.console.keys import ACCOUNTS, CONVERSATIONS
from backend.console.security import STAFF
from backend.console.views.auth import who
from backend.contract import TOWNSHIPS
from backend.errors import ApiError
from backend.handoff.calendar import covered
from backend.handoff.operations import MESSAGE_MAX
from backend.handoff.states import REASON_LABELS
from backend.handoff.states import STATE_LABELS as HANDOFF_STATE_LABELS
from backend.models import HandoffMessage
from backend.tracking import local_day

routes = web.RouteTableDef()

HANDOFF_ID = "{handoff_id:[0-9]{1,12}}"
MAX_MESSAGE_ID = 2**31 - 1  # the column's range: a larger cursor finds nothing


def _message(handoffs: Any, message: HandoffMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "from_resident": message.sender == "resident",
        "staff_name": message.staff_name,
        # Staff handling the conversation see what the resident wrote; ID and phone
        # numbers stay masked even here (they are unmasked only in an application).
        "text": for_staff(handoffs.text_of(message)),
        "at": message.at.isoformat(),
    }


@routes.get("/handoffs")
@aiohttp_jinja2.template("handoffs.html")
async def queue_page(request: web.Request) -> dict[str, Any]:
    staff = request[STAFF]
    handoffs = request.config_dict[HANDOFFS]
    now = request.config_dict[STORE].clock()
    return {
        "nav": "handoffs",
        "rows": await handoffs.queue(staff),
        "office_open": handoffs.hours.is_open(now),
        "next_opening": handoffs.hours.next_opening(now),
        "calendar_covered": covered(local_day(now).year),
        "now": now,
        "STATE": HANDOFF_STATE_LABELS,
        "REASON": REASON_LABELS,
    }


@routes.get(f"/handoffs/{HANDOFF_ID}")
@aiohttp_jinja2.template("handoff.html")
async def conversation_page(request: web.Request) -> dict[str, Any]:
    return await _conversation(request, None)


async def _conversation(request: web.Request, error: str | None) -> dict[str, Any]:
    staff = request[STAFF]
    handoffs = request.config_dict[HANDOFFS]
    handoff, messages = await handoffs.get(int(request.match_info["handoff_id"]), staff)
    before = await request.config_dict[CONVERSATIONS].excerpt(
        handoff.conversation_id, handoff.requested_at, until=True
    )
    colleagues = [
        account
        for account in await request.config_dict[ACCOUNTS].all()
        if account.active and account.id != staff.id
    ]
    return {
        "nav": "handoffs",
        "handoff": handoff,
        "messages": [_message(handoffs, message) for message in messages],
        "before": before,
        "mine": handoff.state == "active" and handoff.taken_by == staff.id,
        "colleagues": colleagues,
        "TOWNSHIPS": TOWNSHIPS,
        "STATE": HANDOFF_STATE_LABELS,
        "REASON": REASON_LABELS,
        "error": error,
        "message_max": MESSAGE_MAX,
    }


@routes.get(f"/handoffs/{HANDOFF_ID}/messages.json")
async def new_messages(request: web.Request) -> web.Response:
    handoffs = request.config_dict[HANDOFFS]
    after = request.query.get("after", "0")
    handoff, messages = await handoffs.messages_after(
        int(request.match_info["handoff_id"]),
        request[STAFF],
        min(int(after), MAX_MESSAGE_ID) if after.isdigit() else 0,
    )
    return web.json_response(
        {"state": handoff.state, "messages": [_message(handoffs, m) for m in messages]}
    )


async def _act(request: web.Request, action: str) -> web.StreamResponse:
    staff = request[STAFF]
    handoff_id = int(request.match_info["handoff_id"])
    handoffs = request.config_dict[HANDOFFS]
    form = await request.post()
    try:
        if action == "take":
            await handoffs.take(handoff_id, staff, who(request))
        elif action == "say":
            text = str(form.get("text", "")).strip()
            if not 0 < len(text) <= MESSAGE_MAX:
                raise ApiError(400, "invalid_field", f"请写 1–{MESSAGE_MAX} 个字")
            await handoffs.say(handoff_id, staff, text, who(request))
        elif action == "close":
            await handoffs.hand_back(handoff_id, staff, who(request))
        else:
            await _forward(request, handoffs, handoff_id, form)
    except ApiError as refused:
        if refused.status == 404:
            raise web.HTTPNotFound(text="没有这个对话") from None
        response = aiohttp_jinja2.render_template(
            "handoff.html", request, await _conversation(request, refused.message)
        )
        response.set_status(refused.status)
        return response
    raise web.HTTPSeeOther(
        "/console/handoffs" if action in ("close", "forward") else f"/console/handoffs/{handoff_id}"
    )


async def _forward(request: web.Request, handoffs: Any, handoff_id: int, form: Any) -> None:
    staff = request[STAFF]
    colleague_id = str(form.get("colleague", ""))
    township = str(form.get("township", "")) or None
    if colleague_id.isdigit():
        if int(colleague_id) == staff.id:
            raise ApiError(400, "invalid_field", "不能转给自己；要接就直接接入")
        colleague = await request.config_dict[ACCOUNTS].get(int(colleague_id))
        await handoffs.forward(handoff_id, staff, who(request), colleague=colleague)
    elif township in TOWNSHIPS:
        await handoffs.forward(handoff_id, staff, who(request), township=township)
    else:
        raise ApiError(400, "invalid_field", "请选一位同事或一个乡镇（街道）")


@routes.post(f"/handoffs/{HANDOFF_ID}/take")
async def take(request: web.Request) -> web.StreamResponse:
    return await _act(request, "take")


@routes.post(f"/handoffs/{HANDOFF_ID}/say")
async def say(request: web.Request) -> web.StreamResponse:
    return await _act(request, "say")


@routes.post(f"/handoffs/{HANDOFF_ID}/close")
async def close(request: web.Request) -> web.StreamResponse:
    return await _act(request, "close")


@routes.post(f"/handoffs/{HANDOFF_ID}/forward")
async def forward(request: web.Request) -> web.StreamResponse:
    return await _act(request, "forward")
