"""The notification outbox's routes: delivery, called by the Rasa server (service token),
and adding a notice by hand (staff token; the console calls backend.notifications.enqueue).

Claimed texts leave unmasked: the Rasa server delivers them to the resident. They are
never logged here (the access log records the path only: the notice's number).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from backend.api.common import NOTIFICATIONS, int_param, json_response, read_json
from backend.api.views import timestamp
from backend.contract import SPEC
from backend.errors import invalid_field
from backend.models import Notification
from backend.notifications.operations import Claim, ClaimedNotice
from backend.notifications.states import CHANNELS, ERRORS
from backend.validation import conversation_id, json_object

routes = web.RouteTableDef()

_SCHEMAS = SPEC["components"]["schemas"]
_CLAIM = _SCHEMAS["NotificationClaim"]["properties"]
WORKER_ID = re.compile(_SCHEMAS["WorkerId"]["pattern"])
MAX_WORKER_ID_CHARS: int = _SCHEMAS["WorkerId"]["maxLength"]
MAX_CONVERSATIONS: int = _CLAIM["conversation_ids"]["maxItems"]
MAX_LIMIT: int = _CLAIM["limit"]["maximum"]
MAX_LEASE_SECONDS: int = _CLAIM["lease_seconds"]["maximum"]
MAX_RETRY_AFTER: int = _SCHEMAS["NotificationFailure"]["properties"]["retry_after"]["maximum"]


def _worker_id(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_WORKER_ID_CHARS or not WORKER_ID.match(value):
        raise invalid_field("worker_id", "worker_id 格式不正确")
    return value


def _channels(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(item not in CHANNELS for item in value):
        raise invalid_field("channels", f"channels 应为 {', '.join(CHANNELS)} 中的一个或多个")
    return tuple(dict.fromkeys(value))


def _conversation_ids(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not 0 < len(value) <= MAX_CONVERSATIONS:
        raise invalid_field("conversation_ids", f"conversation_ids 应为 1–{MAX_CONVERSATIONS} 个")
    return tuple(conversation_id(item, "conversation_ids") for item in value)


def _notice_id(request: web.Request) -> int:
    raw = request.match_info["notification_id"]
    if not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise invalid_field("notification_id", "通知编号应为正整数")
    return int(raw)


def _moment(value: datetime | None) -> str | None:
    return None if value is None else timestamp(value)


def _claimed(claimed: ClaimedNotice) -> dict[str, Any]:
    notice = claimed.notification
    return {
        "id": notice.id,
        "conversation_id": notice.conversation_id,
        "channel": notice.channel,
        "kind": notice.kind,
        "text": claimed.text,
        "created_at": timestamp(notice.created_at),
        "attempts": notice.attempts,
        "claimed_until": _moment(notice.claimed_until),
    }


def _state(notice: Notification) -> dict[str, Any]:
    return {
        "id": notice.id,
        "state": notice.state,
        "attempts": notice.attempts,
        "next_attempt_at": timestamp(notice.next_attempt_at),
        "delivered_at": _moment(notice.delivered_at),
        "last_error": notice.last_error,
    }


@routes.post("/staff/notifications")
async def add_notification(request: web.Request) -> web.Response:
    body = json_object(await read_json(request), {"conversation_id", "kind", "text"})
    text = body.get("text")
    kind = body.get("kind")
    if not isinstance(text, str):
        raise invalid_field("text", "text 应为文本")
    if not isinstance(kind, str):
        raise invalid_field("kind", "kind 应为文本")
    notice = await request.app[NOTIFICATIONS].enqueue(
        conversation_id(body.get("conversation_id")), kind, text
    )
    return json_response(_state(notice), status=201)


@routes.post("/notifications/claim")
async def claim_notifications(request: web.Request) -> web.Response:
    body = json_object(
        await read_json(request),
        {"channels", "conversation_ids", "limit", "lease_seconds", "worker_id"},
    )
    claim = Claim(
        channels=_channels(body.get("channels")),
        worker_id=_worker_id(body.get("worker_id")),
        limit=int_param(body.get("limit"), "limit", default=20, minimum=1, maximum=MAX_LIMIT),
        lease=timedelta(
            seconds=int_param(
                body.get("lease_seconds"),
                "lease_seconds",
                default=60,
                minimum=1,
                maximum=MAX_LEASE_SECONDS,
            )
        ),
        conversation_ids=_conversation_ids(body.get("conversation_ids")),
    )
    claimed = await request.app[NOTIFICATIONS].claim(claim)
    return json_response({"notifications": [_claimed(item) for item in claimed]})


@routes.post("/notifications/{notification_id}/delivered")
async def notification_delivered(request: web.Request) -> web.Response:
    notice_id = _notice_id(request)
    body = json_object(await read_json(request), {"worker_id"})
    _worker_id(body.get("worker_id"))
    return json_response(_state(await request.app[NOTIFICATIONS].delivered(notice_id)))


@routes.post("/notifications/{notification_id}/failed")
async def notification_failed(request: web.Request) -> web.Response:
    notice_id = _notice_id(request)
    body = json_object(await read_json(request), {"worker_id", "error", "retry_after"})
    worker_id = _worker_id(body.get("worker_id"))
    error = body.get("error")
    if error not in ERRORS:
        raise invalid_field("error", f"error 应为 {', '.join(ERRORS)} 之一")
    retry_after = body.get("retry_after")
    if retry_after is not None:
        retry_after = int_param(
            retry_after, "retry_after", default=0, minimum=1, maximum=MAX_RETRY_AFTER
        )
    notice = await request.app[NOTIFICATIONS].failed(notice_id, worker_id, error, retry_after)
    return json_response(_state(notice))
