"""HTTP routes of the status store, split by concern."""

from __future__ import annotations

from aiohttp import web

from backend.api import (
    applications,
    erasure,
    handoffs,
    health,
    inbox,
    learning,
    metrics,
    notifications,
    pages,
    staff,
)


def setup_routes(app: web.Application) -> None:
    app.add_routes(health.routes)
    app.add_routes(applications.routes)
    app.add_routes(staff.routes)
    app.add_routes(inbox.routes)
    app.add_routes(handoffs.routes)
    app.add_routes(metrics.routes)
    app.add_routes(erasure.routes)
    app.add_routes(notifications.routes)
    app.add_routes(learning.routes)
    app.add_routes(pages.routes)
