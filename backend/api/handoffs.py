"""Handoff endpoints the Rasa server calls (service token): ask for a person, route each
resident message (to staff during a handoff; a reply to a rating invitation is recorded),
cancel while still waiting."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from backend.api.common import HANDOFFS, RATINGS, json_response, read_json
from backend.contract import TOWNSHIPS
from backend.errors import invalid_field
from backend.handoff.operations import Ticket
from backend.handoff.states import REQUESTED
from backend.validation import conversation_id, json_object

routes = web.RouteTableDef()

TEXT_MAX = 2000


def ticket_body(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.handoff.id,
        "state": ticket.handoff.state,
        "position": ticket.position,
        "office_open": ticket.office_open,
        "next_opening": ticket.next_opening.isoformat(),
        "new": ticket.new,
    }


@routes.post("/handoffs")
async def request_handoff(request: web.Request) -> web.Response:
    body = json_object(await read_json(request), {"conversation_id", "reason", "township"})
    reason = body.get("reason")
    if reason not in REQUESTED:
        raise invalid_field("reason", "未知的原因")
    township = body.get("township")
    if township is not None and township not in TOWNSHIPS:
        raise invalid_field("township", "不是大安区的乡镇（街道）")
    ticket = await request.app[HANDOFFS].request(
        conversation_id(body.get("conversation_id")), reason, township
    )
    return json_response(ticket_body(ticket), status=201 if ticket.new else 200)


@routes.post("/handoffs/route")
async def route_message(request: web.Request) -> web.Response:
    body = json_object(await read_json(request), {"conversation_id", "text"})
    text = body.get("text")
    if not isinstance(text, str) or len(text) > TEXT_MAX:
        raise invalid_field("text", f"text 应为不超过 {TEXT_MAX} 个字符的文本")
    conversation = conversation_id(body.get("conversation_id"))
    route = await request.app[HANDOFFS].route(conversation, text)
    rating = None if route.to_staff else await request.app[RATINGS].answer(conversation, text)
    return json_response(
        {
            "to_staff": route.to_staff,
            "state": route.state,
            "message_taken": route.message_taken,
            "rated": None if rating is None else rating.level,
        }
    )


@routes.post("/handoffs/cancel")
async def cancel_handoff(request: web.Request) -> web.Response:
    body = json_object(await read_json(request), {"conversation_id"})
    cancelled = await request.app[HANDOFFS].cancel(conversation_id(body.get("conversation_id")))
    return json_response({"cancelled": cancelled})
