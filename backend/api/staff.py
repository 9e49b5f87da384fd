"""Staff endpoints (staff token): find applications and move them through the lifecycle."""

from __future__ import annotations

from aiohttp import web

from backend.api import views
from backend.api.common import STORE, int_param, json_response, read_json, tracking_number_from
from backend.contract import SERVICE_TYPES
from backend.errors import ApiError, invalid_field
from backend.lifecycle import STATUSES
from backend.store import SearchFilters
from backend.validation import (
    normalize_id_number,
    normalize_phone,
    optional_text,
    parse_transition,
)

routes = web.RouteTableDef()

_SEARCH_FIELDS = {"status", "service_type", "township", "id_number", "phone", "limit", "offset"}


# A POST body rather than query parameters: searching by ID or phone number must not put
# them into URLs and access logs.
@routes.post("/staff/applications/search")
async def search_applications(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "请求体应为 JSON 对象")
    unknown = sorted(set(body) - _SEARCH_FIELDS)
    if unknown:
        raise invalid_field(unknown[0], f"未知字段 {unknown[0]}")
    status = body.get("status")
    if status is not None and status not in STATUSES:
        raise invalid_field("status", "未知的状态")
    service_type = body.get("service_type")
    if service_type is not None and service_type not in SERVICE_TYPES:
        raise invalid_field("service_type", "未知的业务类型")
    filters = SearchFilters(
        status=status,
        service_type=service_type,
        township=optional_text(body, "township", max_length=50),
        id_number=None if body.get("id_number") is None else normalize_id_number(body["id_number"]),
        phone=None if body.get("phone") is None else normalize_phone(body["phone"]),
    )
    limit = int_param(body.get("limit"), "limit", default=50, minimum=1, maximum=200)
    offset = int_param(body.get("offset"), "offset", default=0, minimum=0, maximum=1_000_000)
    store = request.app[STORE]
    applications, total = await store.search(filters, limit, offset)
    return json_response(
        {
            "applications": [views.staff_summary(item, store.cipher) for item in applications],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


# "search" is the search route's, for every method: with it, GET .../search would read as
# a tracking number and OPTIONS would advertise GET there.
@routes.get("/staff/applications/{tracking_number:(?!search$)[^{}/]+}")
async def get_application(request: web.Request) -> web.Response:
    store = request.app[STORE]
    application = await store.get(tracking_number_from(request.match_info["tracking_number"]))
    return json_response(views.staff_detail(application, store.cipher))


@routes.post("/staff/applications/{tracking_number}/transitions")
async def transition_application(request: web.Request) -> web.Response:
    tracking_number = tracking_number_from(request.match_info["tracking_number"])
    change = parse_transition(await read_json(request))
    store = request.app[STORE]
    application = await store.transition(tracking_number, change)
    return json_response(views.staff_detail(application, store.cipher))
