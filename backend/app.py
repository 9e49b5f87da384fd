"""The aiohttp application of the status store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from backend.api import setup_routes
from backend.api.common import (
    DASHBOARD,
    HANDOFFS,
    INBOX,
    KNOWLEDGE,
    NOTIFICATIONS,
    OPENAPI_SPEC,
    RATINGS,
    REGISTRY,
    SETTINGS,
    STORE,
    TRAINING,
)
from backend.api.middleware import auth_middleware, error_middleware
from backend.config import REPO_ROOT, Settings
from backend.console.app import mount_console
from backend.crypto import FieldCipher
from backend.dashboard import Dashboard
from backend.db import create_async_db_engine, session_factory, upgrade_database
from backend.handoff.calendar import OfficeHours, parse_periods
from backend.handoff.operations import Handoffs
from backend.inbox.operations import Inbox
from backend.learning.answers import KnowledgeBase
from backend.learning.registry import Registry
from backend.learning.runs import Training
from backend.notifications.operations import DeliveryPolicy, Notifications
from backend.ratings.operations import Deadlines, Ratings
from backend.resident_texts import ResidentTexts
from backend.store import Clock, Store, utc_now

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.yaml"
# Requests are small JSON documents; a tight limit stops memory abuse early.
MAX_REQUEST_BYTES = 64 * 1024


def _database(clock: Clock) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        # Alembic is synchronous; a thread keeps the loop free while it runs.
        await asyncio.to_thread(upgrade_database, settings.database_url, settings.encryption_key)
        engine = create_async_db_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            timeout_seconds=settings.db_timeout_seconds,
        )
        cipher = FieldCipher(settings.encryption_key, settings.hash_key)
        sessions = session_factory(engine)
        texts = ResidentTexts.from_domain()
        deadlines = Deadlines(settings.callback_working_days, settings.rectify_working_days)
        ratings = Ratings(sessions, cipher, texts, deadlines, clock)
        hours = OfficeHours(parse_periods(settings.office_hours))
        app[STORE] = Store(sessions, cipher, settings, clock, texts, ratings)
        app[INBOX] = Inbox(sessions, cipher, clock, ratings)
        app[HANDOFFS] = Handoffs(sessions, cipher, hours, clock, ratings)
        app[RATINGS] = ratings
        app[DASHBOARD] = Dashboard(sessions, clock, settings.due_working_days)
        registry = Registry(sessions, settings.models_dir, clock)
        app[REGISTRY] = registry
        app[TRAINING] = Training(sessions, cipher, registry, clock)
        app[KNOWLEDGE] = KnowledgeBase(sessions, cipher, REPO_ROOT, clock)
        app[NOTIFICATIONS] = Notifications(
            sessions, cipher, DeliveryPolicy.from_settings(settings), clock
        )
        yield
        # Connections still open (requests cut off at shutdown) are closed: the database
        # rolls back whatever transaction they had not committed.
        await engine.dispose()

    return context


def create_app(settings: Settings, *, clock: Clock = utc_now) -> web.Application:
    """The store; migrations run and the database opens when the app starts."""
    app = web.Application(
        middlewares=[error_middleware, auth_middleware], client_max_size=MAX_REQUEST_BYTES
    )
    app[SETTINGS] = settings
    app[OPENAPI_SPEC] = OPENAPI_PATH.read_bytes()
    app.cleanup_ctx.append(_database(clock))
    setup_routes(app)
    mount_console(app)
    return app


@dataclass(frozen=True)
class RunningServer:
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_server(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> RunningServer:
    """Start the store inside a running event loop (tests, benchmarks).

    Port 0 picks a free port; the returned URL names the one actually bound.
    """
    # No access log: benchmarks measure the store, not log formatting.
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or settings.host, settings.port if port is None else port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return RunningServer(runner, f"http://{bound_host}:{bound_port}")
