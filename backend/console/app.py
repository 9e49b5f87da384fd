"""The console as a sub-application of the store, mounted at /console/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from backend.api.common import SETTINGS, STORE
from backend.console import security
from backend.console.accounts import Accounts
from backend.console.audit import ACTION_LABELS, AuditLog
from backend.console.conversations import Conversations
from backend.console.keys import ACCOUNTS, AUDIT, CONVERSATIONS, LABELS
from backend.console.labels import read_labels
from backend.console.roles import ROLE_LABELS
from backend.console.views import (
    accounts,
    applications,
    audit,
    auth,
    dashboard,
    handoffs,
    inbox,
    learning,
    ratings,
)
from backend.contract import CHANNELS, TOWNSHIPS
from backend.inbox.states import STATE_LABELS
from backend.throttling import ThrottlePolicy
from backend.tracking import CHINA_TZ

HERE = Path(__file__).resolve().parent
PREFIX = "/console/"

CHANNEL_LABELS = {"rest": "接口", "socketio": "网页", "wechat": "微信"}
# What a refused training-page action means, for the admin (the codes of the ApiErrors).
LEARNING_ERRORS = {
    "training_busy": "已经有一次训练在排队或进行中，请等它结束。",
    "gate_refused": "这个模型没有通过比较（比正在使用的差，或没有评分）：要启用，请写明理由。",
    "run_ended": "这次训练已经结束了。",
    "already_active": "这个模型已经在使用了。",
    "nothing_to_roll_back": "没有可以回退到的上一个模型。",
    "not_found": "没有找到，请刷新后再试。",
}
REASON_LABELS = {
    "fallback": "没听懂",
    "clarified": "猜了几个（您是不是想问）",
    "out_of_scope": "不归我们管",
    "form_stopped": "填表三次不成",
    "handoff": "要找人工",
}


def local_time(moment: datetime | None, style: str = "%Y-%m-%d %H:%M") -> str:
    return "" if moment is None else moment.astimezone(CHINA_TZ).strftime(style)


def _services(parent: web.Application) -> web.CleanupContext:
    async def context(console: web.Application) -> AsyncIterator[None]:
        # The store's database opens in the parent's cleanup context, which runs first.
        store = parent[STORE]
        settings = parent[SETTINGS]
        sessions, clock = store.sessions, store.clock
        console[ACCOUNTS] = Accounts(
            sessions, store.cipher, ThrottlePolicy.for_logins(settings), clock
        )
        console[AUDIT] = AuditLog(sessions, clock)
        console[CONVERSATIONS] = Conversations(settings.rasa_url, settings.rasa_token)
        yield
        await console[CONVERSATIONS].close()

    return context


def create_console(parent: web.Application) -> web.Application:
    settings = parent[SETTINGS]
    console = web.Application(
        middlewares=[
            security.security_headers,
            security.sessions(settings),
            security.require_login,
            security.require_csrf_token,
            security.html_errors,
        ]
    )
    console[LABELS] = read_labels()
    environment = aiohttp_jinja2.setup(
        console,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        context_processors=[auth.page_context],
    )
    environment.filters["local_time"] = local_time
    environment.globals.update(
        CHANNELS=CHANNELS,
        CHANNEL_LABELS=CHANNEL_LABELS,
        REASON_LABELS=REASON_LABELS,
        STATE_LABELS=STATE_LABELS,
        ROLE_LABELS=ROLE_LABELS,
        ACTION_LABELS=ACTION_LABELS,
        TOWNSHIPS=TOWNSHIPS,
        LEARNING_ERRORS=LEARNING_ERRORS,
    )
    console.cleanup_ctx.append(_services(parent))
    modules = (auth, dashboard, inbox, handoffs, applications, ratings, learning, accounts, audit)
    for module in modules:
        console.add_routes(module.routes)
    assets = console.router.add_static("/static/", HERE / "static", append_version=True)
    environment.globals["static"] = lambda name: str(assets.url_for(filename=name))
    return console


def mount_console(app: web.Application) -> None:
    """Serve the console under /console/ (the store's token auth does not apply there)."""
    app.add_subapp(PREFIX, create_console(app))
