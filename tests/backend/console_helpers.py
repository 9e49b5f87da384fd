"""Signing in to the console from tests, as a browser would: a page, its CSRF token, a
form post, the session cookie kept by the client's cookie jar."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from store_helpers import FakeClock

from backend.api.common import SETTINGS, STORE
from backend.console.accounts import Accounts, Staff
from backend.console.audit import Actor
from backend.throttling import ThrottlePolicy

PASSWORD = "correct horse battery"
SETUP = Actor(None, "test-setup", None)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def accounts_of(client: TestClient) -> Accounts:
    store = client.app[STORE]
    return Accounts(
        store.sessions, store.cipher, ThrottlePolicy.for_logins(client.app[SETTINGS]), store.clock
    )


async def make_account(
    client: TestClient, username: str, role: str = "staff", township: str | None = None
) -> Staff:
    return await accounts_of(client).create(username, username, PASSWORD, role, township, SETUP)


async def csrf_token(client: TestClient, path: str = "/console/login") -> str:
    response = await client.get(path)
    match = _CSRF.search(await response.text())
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def log_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    token = await csrf_token(client)
    return await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )


async def post_form(client: TestClient, path: str, page: str, **fields: str) -> Any:
    """A form posted from `page`, with that page's CSRF token."""
    token = await csrf_token(client, page)
    return await client.post(path, data={**fields, "csrf_token": token}, allow_redirects=False)


def advance(clock: FakeClock, minutes: float) -> None:
    clock.advance(minutes * 60)
