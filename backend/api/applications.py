"""Endpoints the action server calls on behalf of residents (service token)."""

from __future__ import annotations

import re

from aiohttp import web

from backend.api import views
from backend.api.common import STORE, json_response, read_json, tracking_number_from
from backend.errors import ApiError
from backend.validation import (
    conversation_id,
    json_object,
    parse_applicant_search,
    parse_new_application,
    parse_proof,
    parse_withdrawal,
)

routes = web.RouteTableDef()

LIST_LIMIT = 50
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")


def _idempotency_key(value: str) -> str:
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise ApiError(
            400,
            "missing_idempotency_key",
            "需要 Idempotency-Key（1–128 个可见 ASCII 字符）",
        )
    return value


@routes.post("/applications")
async def create_application(request: web.Request) -> web.Response:
    key = _idempotency_key(request.headers.get("Idempotency-Key", ""))
    store = request.app[STORE]
    new = parse_new_application(await read_json(request), store.today())
    application, created = await store.create(new, key)
    return json_response(
        views.created(application, replayed=not created), status=201 if created else 200
    )


# After a timeout or a crash the action server asks whether its create went through
# before telling the resident anything.
@routes.get("/applications/by-key/{key}")
async def application_by_key(request: web.Request) -> web.Response:
    key = _idempotency_key(request.match_info["key"])
    caller = conversation_id(request.query.get("conversation_id"))
    application = await request.app[STORE].by_key(key, caller)
    return json_response(views.created(application, replayed=True))


# POST, not GET: the proof (possibly a full phone number) must not end up in URLs and
# access logs.
@routes.post("/applications/lookup")
async def lookup_application(request: web.Request) -> web.Response:
    body = json_object(await read_json(request), {"tracking_number", "proof", "conversation_id"})
    tracking_number = tracking_number_from(body.get("tracking_number"))
    proof = parse_proof(body.get("proof"))
    caller = conversation_id(body.get("conversation_id"))
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
    caller = conversation_id(request.query.get("conversation_id"))
    store = request.app[STORE]
    applications = await store.list_for_conversation(caller, LIST_LIMIT)
    return json_response(views.summaries(applications, store.cipher))
