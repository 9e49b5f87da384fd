"""The audit log (admins only), newest first."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from backend.console.audit import ACTION_LABELS
from backend.console.keys import AUDIT
from backend.console.security import admin_only
from backend.console.views.inbox import page_number

routes = web.RouteTableDef()

PAGE_SIZE = 50


@routes.get("/audit")
@admin_only
@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    action = request.query.get("action")
    action = action if action in ACTION_LABELS else None
    page = page_number(request.query)
    entries, total = await request.config_dict[AUDIT].entries(
        PAGE_SIZE, (page - 1) * PAGE_SIZE, action
    )
    return {
        "entries": entries,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "action": action,
    }
