"""Applications: find them, open one (masked; unmasking is logged), move it on with a note.

Staff limited to a township see and move only its applications. Searching by ID or phone
number is a POST, so that neither ends up in a URL or an access log. Every staff change
notifies the resident (the store queues the notice in the change's own transaction).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiMapping

from backend.api.common import SETTINGS, STORE
from backend.console.display import for_staff
from backend.console.keys import AUDIT
from backend.console.security import STAFF
from backend.console.views.auth import who
from backend.console.views.inbox import page_number
from backend.contract import SERVICE_TYPES, TOWNSHIPS
from backend.errors import ApiError
from backend.handoff.calendar import working_days_before
from backend.lifecycle import (
    NOTE_REQUIRED,
    OPEN_STATUSES,
    SERVICE_LABELS,
    STATUS_LABELS,
    STATUSES,
    allowed_next,
)
from backend.models import Application
from backend.store import SearchFilters
from backend.tracking import CHINA_TZ, local_day, normalize_tracking_number
from backend.validation import Transition, normalize_id_number, normalize_phone
from personaldata.masks import mask_id_number, mask_name, mask_phone

routes = web.RouteTableDef()

PAGE_SIZE = 30
NUMBER = "{tracking_number:DA[0-9]{12}}"


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


def filters_from(
    query: MultiMapping[str], township_limit: str | None, today: date, due_days: int
) -> SearchFilters:
    since, until = _day(query.get("since")), _day(query.get("until"))
    overdue = query.get("overdue") == "1"
    created_before = _midnight(until) + timedelta(days=1) if until else None
    if overdue:
        deadline_start = _midnight(working_days_before(today, due_days))
        created_before = min(filter(None, (created_before, deadline_start)))
    status = query.get("status")
    service = query.get("service_type")
    township = query.get("township")
    return SearchFilters(
        status=status if status in STATUSES else None,
        service_type=service if service in SERVICE_TYPES else None,
        township=township_limit or (township if township in TOWNSHIPS else None),
        created_from=_midnight(since) if since else None,
        created_before=created_before,
        open_only=overdue,
        flagged_only=query.get("flagged") == "1",
    )


def _masked_details(details: dict[str, Any]) -> dict[str, Any]:
    return {
        key: for_staff(value) if isinstance(value, str) else value for key, value in details.items()
    }


def overdue(application: Application, today: date, due_days: int) -> bool:
    if application.status not in OPEN_STATUSES:
        return False
    return local_day(application.created_at) < working_days_before(today, due_days)


def _row(application: Application, cipher: Any, today: date, due_days: int) -> dict[str, Any]:
    return {
        "tracking_number": application.tracking_number,
        "service": SERVICE_LABELS[application.service_type],
        "name": mask_name(cipher.decrypt(application.applicant_name_enc)),
        "township": application.township,
        "status": application.status,
        "created_at": application.created_at,
        "changed_at": application.status_changed_at,
        "overdue": overdue(application, today, due_days),
        "flag": application.possible_duplicate_of,
    }


def _context(request: web.Request) -> tuple[Any, date, int]:
    store = request.config_dict[STORE]
    return store, local_day(store.clock()), request.config_dict[SETTINGS].due_working_days


@routes.get("/applications")
@aiohttp_jinja2.template("applications.html")
async def list_page(request: web.Request) -> dict[str, Any]:
    _, today, due_days = _context(request)
    filters = filters_from(request.query, request[STAFF].township, today, due_days)
    return await _listing(request, filters, page_number(request.query))


async def _listing(request: web.Request, filters: SearchFilters, page: int) -> dict[str, Any]:
    store, today, due_days = _context(request)
    applications, total = await store.search(filters, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return {
        "nav": "applications",
        "rows": [_row(item, store.cipher, today, due_days) for item in applications],
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "query": request.query,
        "query_string": urlencode([(k, v) for k, v in request.query.items() if k != "page"]),
        "SERVICE_LABELS": SERVICE_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "due_days": due_days,
        "error": None,
        "moved": request.query.get("moved"),
        "bulk_from": BULK_FROM,
    }


# The one change made in bulk: taking new applications into township review needs no
# note and decides nothing; every other step is taken one application at a time.
BULK_FROM, BULK_TO = "submitted", "township_review"
BULK_MAX = 100


@routes.post("/applications/bulk")
async def bulk_review(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    numbers = [str(value) for value in form.getall("tracking_number", [])][:BULK_MAX]
    staff = request[STAFF]
    store = request.config_dict[STORE]
    moved = 0
    for number in numbers:
        try:
            application = await store.get(number)
        except ApiError:
            continue
        if application.status != BULK_FROM or (
            staff.township is not None and application.township != staff.township
        ):
            continue
        change = Transition(status=BULK_TO, note=None, actor=f"staff:{staff.username}")
        try:
            await store.transition(number, change)
        except ApiError:
            continue  # changed meanwhile by someone else
        moved += 1
        await request.config_dict[AUDIT].record(
            who(request), "application_transition", target=number, reason=BULK_TO
        )
    raise web.HTTPSeeOther(f"/console/applications?status={BULK_FROM}&moved={moved}")


@routes.post("/applications/search")
@aiohttp_jinja2.template("applications.html")
async def search_by_person(request: web.Request) -> dict[str, Any]:
    """Find by tracking number, ID number or phone (in the body, never in a URL)."""
    form = await request.post()
    raw = str(form.get("term", "")).strip()
    number = normalize_tracking_number(raw)
    if number is not None:
        raise web.HTTPSeeOther(f"/console/applications/{number}")
    township = request[STAFF].township
    try:
        if len(raw.replace(" ", "")) == 18:
            id_number = normalize_id_number(raw)
            filters = SearchFilters(id_number=id_number, township=township)
            searched = f"id:{mask_id_number(id_number)}"
        else:
            phone = normalize_phone(raw)
            filters = SearchFilters(phone=phone, township=township)
            searched = f"phone:{mask_phone(phone)}"
    except ApiError:
        context = await _listing(request, SearchFilters(township=township), 1)
        context["error"] = "请输入办件编号、18 位身份证号或 11 位手机号。"
        return context
    # Whose number was looked up, masked as everywhere else.
    await request.config_dict[AUDIT].record(who(request), "search_person", target=searched)
    return await _listing(request, filters, 1)


async def _visible(request: web.Request) -> Application:
    store = request.config_dict[STORE]
    try:
        application = await store.get(request.match_info["tracking_number"])
    except ApiError:
        raise web.HTTPNotFound(text="没有这个办件") from None
    township = request[STAFF].township
    if township is not None and application.township != township:
        raise web.HTTPNotFound(text="没有这个办件")
    return application


async def _detail(request: web.Request, error: str | None = None) -> dict[str, Any]:
    application = await _visible(request)
    store, today, due_days = _context(request)
    cipher = store.cipher
    return {
        "nav": "applications",
        "app": application,
        "service": SERVICE_LABELS[application.service_type],
        "name": mask_name(cipher.decrypt(application.applicant_name_enc)),
        "id_number": mask_id_number(cipher.decrypt(application.id_number_enc)),
        "phone": mask_phone(cipher.decrypt(application.phone_enc)),
        "details": _masked_details(cipher.decrypt_json(application.details_enc)),
        "next": allowed_next(application.status),
        "note_required": sorted(NOTE_REQUIRED),
        "overdue": overdue(application, today, due_days),
        "STATUS_LABELS": STATUS_LABELS,
        "error": error,
    }


@routes.get(f"/applications/{NUMBER}")
@aiohttp_jinja2.template("application.html")
async def detail_page(request: web.Request) -> dict[str, Any]:
    return await _detail(request)


@routes.post(f"/applications/{NUMBER}/transition")
async def move_on(request: web.Request) -> web.StreamResponse:
    application = await _visible(request)
    form = await request.post()
    status = str(form.get("status", ""))
    note = str(form.get("note", "")).strip() or None
    staff = request[STAFF]
    try:
        if note is not None and len(note) > 500:
            raise ApiError(400, "invalid_field", "说明最多 500 个字")
        change = Transition(status=status, note=note, actor=f"staff:{staff.username}")
        await request.config_dict[STORE].transition(application.tracking_number, change)
    except ApiError as refused:
        response = aiohttp_jinja2.render_template(
            "application.html", request, await _detail(request, refused.message)
        )
        response.set_status(refused.status)
        return response
    await request.config_dict[AUDIT].record(
        who(request), "application_transition", target=application.tracking_number, reason=status
    )
    raise web.HTTPSeeOther(f"/console/applications/{application.tracking_number}")


@routes.post(f"/applications/{NUMBER}/unmask")
async def unmask(request: web.Request) -> web.StreamResponse:
    application = await _visible(request)
    reason = str((await request.post()).get("reason", "")).strip()
    if not 2 <= len(reason) <= 200:
        raise web.HTTPBadRequest(text="查看完整信息要写明原因（2–200 字）")
    await request.config_dict[AUDIT].record(
        who(request), "unmask", target=application.tracking_number, reason=reason
    )
    cipher = request.config_dict[STORE].cipher
    context = {
        "nav": "applications",
        "app": application,
        "name": cipher.decrypt(application.applicant_name_enc),
        "id_number": cipher.decrypt(application.id_number_enc),
        "phone": cipher.decrypt(application.phone_enc),
        "details": cipher.decrypt_json(application.details_enc),
        "reason": reason,
    }
    return aiohttp_jinja2.render_template("application_unmasked.html", request, context)
