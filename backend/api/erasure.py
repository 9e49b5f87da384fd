"""The Rasa server passes on a resident's erasure request (service token)."""

from __future__ import annotations

from aiohttp import web

from backend.api.common import STORE, json_response, read_json
from backend.erasure import erase_conversation
from backend.validation import conversation_id, json_object

routes = web.RouteTableDef()


@routes.post("/conversations/erase")
async def erase(request: web.Request) -> web.Response:
    body = json_object(await read_json(request), {"conversation_id"})
    erased = await erase_conversation(
        request.app[STORE].sessions, conversation_id(body.get("conversation_id"))
    )
    return json_response(
        {
            "questions": erased.questions,
            "handoffs": erased.handoffs,
            "notices": erased.notices,
            "ratings": erased.ratings,
        }
    )
