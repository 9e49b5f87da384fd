"""Signing in and out, changing one's own password; what every page is given."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session

from backend.api.common import SETTINGS
from backend.console.accounts import LoginRefused, Staff, normalise_username
from backend.console.audit import Actor, actor
from backend.console.keys import ACCOUNTS
from backend.console.security import (
    CSRF_FIELD,
    DEVICE_COOKIE,
    STAFF,
    csrf_token,
    public,
    safe_next,
    set_device_cookie,
    start_session,
    trusted_device,
)
from backend.errors import ApiError

routes = web.RouteTableDef()

NOTICES = {
    "login": "请先登录。",
    "idle": "太久没有操作，已自动退出，请重新登录。",
    "ended": "您的登录已结束（已退出、改了密码或账号被停用），请重新登录。",
    "logout": "已退出。",
}


async def page_context(request: web.Request) -> dict[str, Any]:
    """Given to every template: the signed-in account and the CSRF token for forms."""
    session = await get_session(request)
    return {
        "staff": request.get(STAFF),
        "csrf_token": csrf_token(session),
        "CSRF_FIELD": CSRF_FIELD,
    }


def who(request: web.Request, staff: Staff | None = None) -> Actor:
    """The actor of the audit log for this request."""
    staff = staff or request[STAFF]
    return actor(staff.id, staff.username, request.remote)


@routes.get("/login")
@public
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    return {
        "notice": NOTICES.get(request.query.get("notice", "")),
        "next": safe_next(request.query.get("next")),
        "error": None,
    }


@routes.post("/login")
@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    settings = request.config_dict[SETTINGS]
    device = trusted_device(
        settings, request.cookies.get(DEVICE_COOKIE), normalise_username(username)
    )
    try:
        staff = await request.config_dict[ACCOUNTS].login(
            username, password, actor(None, "-", request.remote), device
        )
    except LoginRefused as refused:
        error = (
            f"尝试次数太多，请 {max(1, -(-refused.retry_after // 60))} 分钟后再试。"
            if refused.retry_after
            else "用户名或密码不对。"
        )
        context = {"notice": None, "next": target, "error": error}
        response = aiohttp_jinja2.render_template("login.html", request, context)
        response.set_status(429 if refused.retry_after else 401)
        return response
    start_session(request, await new_session(request), staff)
    response = web.HTTPSeeOther(target)
    if device is None:
        set_device_cookie(response, settings, staff.username)
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await request.config_dict[ACCOUNTS].end_sessions(request[STAFF].id, who(request))
    (await get_session(request)).invalidate()
    raise web.HTTPSeeOther("/console/login?notice=logout")


@routes.get("/password")
@aiohttp_jinja2.template("password.html")
async def password_page(request: web.Request) -> dict[str, Any]:
    return {"error": None}


@routes.post("/password")
async def change_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    accounts = request.config_dict[ACCOUNTS]
    staff = request[STAFF]
    error = None
    if not await accounts.verify_password(staff.id, str(form.get("current", ""))):
        error = "原密码不对。"
    elif form.get("new") != form.get("repeat"):
        error = "两次输入的新密码不一样。"
    else:
        try:
            await accounts.set_password(
                staff.id, str(form.get("new", "")), who(request), "password_changed"
            )
        except ApiError as refused:
            error = refused.message
    if error:
        response = aiohttp_jinja2.render_template("password.html", request, {"error": error})
        response.set_status(400)
        return response
    (await get_session(request)).invalidate()
    raise web.HTTPSeeOther("/console/login?notice=ended")
