"""Turn counts from the Rasa server (service token), for the dashboard's containment rate."""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web

from backend.api.common import DASHBOARD, json_response, read_json
from backend.contract import CHANNELS
from backend.dashboard import OUTCOMES
from backend.errors import invalid_field
from backend.validation import json_object

routes = web.RouteTableDef()

BATCH_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_ROWS = 500
MAX_COUNT = 1_000_000


def _row(item: object) -> tuple[date, str, str, int]:
    row = json_object(item, {"day", "channel", "outcome", "count"})
    try:
        day = date.fromisoformat(row.get("day", ""))
    except (TypeError, ValueError):
        raise invalid_field("counts", "day 应为 YYYY-MM-DD") from None
    count = row.get("count")
    if row.get("channel") not in CHANNELS or row.get("outcome") not in OUTCOMES:
        raise invalid_field("counts", "未知的渠道或结果")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_COUNT:
        raise invalid_field("counts", f"count 应为 1–{MAX_COUNT} 的整数")
    return day, row["channel"], row["outcome"], count


@routes.post("/metrics/turns")
async def add_turns(request: web.Request) -> web.Response:
    body = json_object(await read_json(request), {"batch_id", "counts"})
    batch_id = body.get("batch_id")
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        raise invalid_field("batch_id", "batch_id 应为 8–64 个字母、数字、- 或 _")
    counts = body.get("counts")
    if not isinstance(counts, list) or not 0 < len(counts) <= MAX_ROWS:
        raise invalid_field("counts", f"counts 应为 1–{MAX_ROWS} 项的列表")
    added = await request.app[DASHBOARD].add_turns(batch_id, [_row(item) for item in counts])
    return json_response({"added": added}, status=201 if added else 200)
