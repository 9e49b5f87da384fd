"""Capture endpoints the Rasa server calls for the staff inbox (service token)."""

from __future__ import annotations

from aiohttp import web

from backend.api.common import INBOX, json_response, read_json
from backend.inbox.requests import capture_id, parse_capture, parse_resolution

routes = web.RouteTableDef()


@routes.post("/inbox/items")
async def capture(request: web.Request) -> web.Response:
    item, stored = await request.app[INBOX].capture(parse_capture(await read_json(request)))
    body = {"capture_id": item.capture_id, "group_id": item.group_id}
    return json_response(body, status=201 if stored else 200)


@routes.post("/inbox/items/{capture_id}/resolution")
async def resolve(request: web.Request) -> web.Response:
    label = parse_resolution(await read_json(request))
    item = await request.app[INBOX].resolve(capture_id(request.match_info["capture_id"]), label)
    return json_response({"capture_id": item.capture_id, "group_id": item.group_id})
