"""The dashboard: containment, handoffs, applications, satisfaction and 差评 at a glance,
each table with its CSV export (personal data never appears in them)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from backend.api.common import DASHBOARD
from backend.console.keys import AUDIT
from backend.console.security import STAFF
from backend.console.views.auth import who

routes = web.RouteTableDef()

PERIODS = (7, 30, 90, 365)


def _days(request: web.Request) -> int:
    raw = request.query.get("days", "30")
    return int(raw) if raw.isdigit() and int(raw) in PERIODS else 30


@routes.get("/dashboard")
@aiohttp_jinja2.template("dashboard.html")
async def dashboard_page(request: web.Request) -> dict[str, Any]:
    days = _days(request)
    tables = await request.config_dict[DASHBOARD].tables(request[STAFF].township, days)
    turns = tables[0]
    chart = {
        "days": [row[0][5:] for row in turns.rows],
        "series": {
            name: [row[index] for row in turns.rows]
            for index, name in ((2, "直接答上"), (3, "猜了几个"), (4, "没答上"), (5, "要求转人工"))
        },
    }
    return {
        "nav": "dashboard",
        "tables": tables,
        "days": days,
        "PERIODS": PERIODS,
        "chart_json": json.dumps(chart, ensure_ascii=False),
    }


@routes.get("/dashboard/{table:[a-z_]+}.csv")
async def export_table(request: web.Request) -> web.StreamResponse:
    name = request.match_info["table"]
    tables = await request.config_dict[DASHBOARD].tables(request[STAFF].township, _days(request))
    table = next((table for table in tables if table.name == name), None)
    if table is None:
        raise web.HTTPNotFound(text="没有这个表")
    await request.config_dict[AUDIT].record(who(request), "export", target=f"dashboard:{name}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.header)
    writer.writerows(table.rows)
    return web.Response(
        body=("\ufeff" + buffer.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
