"""Endpoints the action server calls on behalf of residents (service token)."""

from __future__ import annotations

import re

from aiohttp import web

from backend.api import views
from backend.api.common import STORE, json_response, read_json, tracking_number_from
from backend.errors import ApiError
from backend.validation import (
    json_object,
    parse_applicant_search,
    parse_new_application,
    parse_proof,
    parse_withdrawal,
    required_text,
)

routes = web.RouteTableDef()

LIST_LIMIT = 50
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")


@routes.post("/applications")
async def create_application(request: web.Request) -> web.Response:
    key = request.headers.get("Idempotency-Key", "")
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400,
            "missing_idempotency_key",
            "需要 Idempotency-Key 请求头（1–128 个可见 ASCII 字符）",
        )
    new = parse_new_application(await read_json(request))
    application, created = await request.app[STORE].create(new, key)
    return json_response(
        views.created(application, replayed=not created), status=201 if created else 200
    )


# POST, not GET: the proof (possibly a full phone number) must not end up in URLs and
# access logs.
@routes.post("/applications/lookup")
async def lookup_application(request: web.Request) -> web.Response:
    body = json_object(await read_json(request), {"tracking_number", "proof", "conversation_id"})
    tracking_number = tracking_number_from(body.get("tracking_number"))
    proof = parse_proof(body.get("proof"))
    caller = required_text(body, "conversation_id", max_length=128)
    store = request.app[STORE]
    application = await store.lookup(tracking_number, proof, caller)
    return json_response(views.resident_detail(application, store.cipher))


@routes.post("/applications/{tracking_number}/withdraw")
async def withdraw_application(request: web.Request) -> web.Response:
    tracking_number = tracking_number_from(request.match_info["tracking_number"])
    withdrawal = parse_withdrawal(await read_json(request))
    store = request.app[STORE]
    application = await store.withdraw(
        tracking_number, withdrawal.proof, withdrawal.conversation_id
    )
    return json_response(views.resident_detail(application, store.cipher))


# POST, not GET, like lookup: ID and phone numbers must stay out of URLs and access logs.
@routes.post("/applications/find")
async def find_applicant_applications(request: web.Request) -> web.Response:
    search = parse_applicant_search(await read_json(request))
    store = request.app[STORE]
    applications = await store.find_by_applicant(
        search.id_number, search.phone, search.conversation_id, LIST_LIMIT
    )
    # The applicant proved who they are as for a lookup: they see what a lookup shows.
    return json_response(
        {"applications": [views.resident_detail(item, store.cipher) for item in applications]}
    )


@routes.get("/applications")
async def list_conversation_applications(request: web.Request) -> web.Response:
    conversation_id = required_text(dict(request.query), "conversation_id", max_length=128)
    store = request.app[STORE]
    applications = await store.list_for_conversation(conversation_id, LIST_LIMIT)
    return json_response(views.summaries(applications, store.cipher))
