"""Accounts (admins only): create staff and admins, limit them to a township, disable
them, reset a password. Every change ends the account's sessions and is logged."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from backend.console.keys import ACCOUNTS
from backend.console.security import admin_only
from backend.console.views.auth import who
from backend.errors import ApiError

routes = web.RouteTableDef()


async def _render(
    request: web.Request, error: str | None = None, status: int = 200
) -> web.Response:
    context: dict[str, Any] = {
        "accounts": await request.config_dict[ACCOUNTS].all(),
        "error": error,
    }
    response = aiohttp_jinja2.render_template("accounts.html", request, context)
    response.set_status(status)
    return response


@routes.get("/accounts")
@admin_only
async def accounts_page(request: web.Request) -> web.StreamResponse:
    return await _render(request)


@routes.post("/accounts")
@admin_only
async def create_account(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    township = str(form.get("township", "")) or None
    try:
        await request.config_dict[ACCOUNTS].create(
            str(form.get("username", "")),
            str(form.get("display_name", "")),
            str(form.get("password", "")),
            str(form.get("role", "")),
            township,
            who(request),
        )
    except ApiError as refused:
        return await _render(request, refused.message, refused.status)
    raise web.HTTPSeeOther("/console/accounts")


@routes.post("/accounts/{account_id:[0-9]{1,12}}/active")
@admin_only
async def set_active(request: web.Request) -> web.StreamResponse:
    account_id = int(request.match_info["account_id"])
    if account_id == who(request).account_id:
        return await _render(request, "不能停用自己的账号。", 400)
    active = (await request.post()).get("active") == "1"
    await request.config_dict[ACCOUNTS].set_active(account_id, active, who(request))
    raise web.HTTPSeeOther("/console/accounts")


@routes.post("/accounts/{account_id:[0-9]{1,12}}/password")
@admin_only
async def reset_password(request: web.Request) -> web.StreamResponse:
    account_id = int(request.match_info["account_id"])
    password = str((await request.post()).get("password", ""))
    try:
        await request.config_dict[ACCOUNTS].set_password(account_id, password, who(request))
    except ApiError as refused:
        return await _render(request, refused.message, refused.status)
    raise web.HTTPSeeOther("/console/accounts")
