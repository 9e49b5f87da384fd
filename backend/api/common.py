"""Application keys and request helpers shared by the route modules."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from backend.api.body import parse_json_body
from backend.config import Settings
from backend.dashboard import Dashboard
from backend.errors import ApiError
from backend.handoff.operations import Handoffs
from backend.inbox.operations import Inbox
from backend.learning.answers import KnowledgeBase
from backend.learning.registry import Registry
from backend.learning.runs import Training
from backend.notifications.operations import Notifications
from backend.ratings.operations import Ratings
from backend.store import Store
from backend.tracking import normalize_tracking_number

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
INBOX = web.AppKey("inbox", Inbox)
HANDOFFS = web.AppKey("handoffs", Handoffs)
RATINGS = web.AppKey("ratings", Ratings)
DASHBOARD = web.AppKey("dashboard", Dashboard)
NOTIFICATIONS = web.AppKey("notifications", Notifications)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
REGISTRY = web.AppKey("registry", Registry)
TRAINING = web.AppKey("training", Training)
OPENAPI_SPEC = web.AppKey("openapi_spec", bytes)


# Chinese text unescaped, so that curl output and staff tools show it as is.
_dumps = functools.partial(json.dumps, ensure_ascii=False)


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


async def read_json(request: web.Request) -> Any:
    """The body as JSON within the store's bounds (a body too large is a 413)."""
    return parse_json_body(await request.read())


def tracking_number_from(raw: Any) -> str:
    if isinstance(raw, str):
        normalized = normalize_tracking_number(raw)
        if normalized is not None:
            return normalized
    raise ApiError(
        400,
        "invalid_tracking_number",
        "受理编号格式不正确（应为 DA + 8 位日期 + 4 位序号，如 DA202611270001）",
        field="tracking_number",
    )


def int_param(value: Any, field: str, *, default: int, minimum: int, maximum: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "invalid_field", f"{field} 应为整数", field=field)
    if not minimum <= value <= maximum:
        raise ApiError(
            400, "invalid_field", f"{field} 应在 {minimum} 到 {maximum} 之间", field=field
        )
    return value
