"""A staff member at the console of a running store process, from the tests outside
tests/backend: an admin made with `python -m backend create-admin`, signed in over HTTP
like a browser (a page, its CSRF token, a form post, the session cookie)."""

from __future__ import annotations

import re
import secrets
import subprocess
from typing import Any

import aiohttp

from scripts import processes
from tests.servers import ROOT, Stack

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_HANDOFF_LINK = re.compile(r'href="/console/handoffs/(\d+)"')


def create_admin(stack: Stack, username: str, display_name: str | None = None) -> str:
    """An admin account in the stack's store; its password."""
    password = secrets.token_urlsafe(16)
    env = {**processes.environment("store", stack.env), "STORE_ADMIN_PASSWORD": password}
    named = ["--display-name", display_name] if display_name else []
    subprocess.run(
        [*processes.command("store"), "create-admin", "--username", username, *named],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return password


class StaffConsole:
    """One signed-in browser session; use as an async context manager."""

    def __init__(self, store_url: str) -> None:
        self._url = store_url.rstrip("/")
        # The store is addressed by IP: aiohttp keeps no cookies for one unless told to.
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def __aenter__(self) -> StaffConsole:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.close()

    async def log_in(self, username: str, password: str) -> None:
        response = await self._post(
            "/console/login", "/console/login", username=username, password=password
        )
        assert response.status == 303, f"login refused: {response.status}"

    async def handoff_ids(self) -> list[int]:
        """The handoffs in the queue page, oldest first."""
        return [int(found) for found in _HANDOFF_LINK.findall(await self.page("/console/handoffs"))]

    async def take(self, handoff_id: int) -> None:
        await self._act(handoff_id, "take")

    async def say(self, handoff_id: int, text: str) -> None:
        await self._act(handoff_id, "say", text=text)

    async def hand_back(self, handoff_id: int) -> None:
        await self._act(handoff_id, "close")

    async def messages(self, handoff_id: int) -> dict[str, Any]:
        """The conversation page's poll: the handoff's state and its messages."""
        async with self._http.get(
            f"{self._url}/console/handoffs/{handoff_id}/messages.json"
        ) as response:
            assert response.status == 200, response.status
            return await response.json()

    async def page(self, path: str) -> str:
        async with self._http.get(self._url + path, allow_redirects=False) as response:
            assert response.status == 200, f"{path}: {response.status}"
            return await response.text()

    async def inbox_group(self, question: str) -> int | None:
        """The open inbox group whose sample is `question`, if it has arrived."""
        found = re.search(
            rf'href="/console/inbox/(\d+)">{re.escape(question)}<',
            await self.page("/console/inbox"),
        )
        return int(found.group(1)) if found else None

    async def submit(self, path: str, page: str, **fields: str) -> str:
        """A form that must be accepted (a redirect); where it leads."""
        response = await self._post(path, page, **fields)
        assert response.status == 303, f"{path} refused: {response.status}"
        return response.headers["Location"]

    async def json(self, path: str) -> Any:
        async with self._http.get(self._url + path) as response:
            assert response.status == 200, f"{path}: {response.status}"
            return await response.json()

    async def _act(self, handoff_id: int, action: str, **fields: str) -> None:
        page = f"/console/handoffs/{handoff_id}"
        response = await self._post(f"{page}/{action}", page, **fields)
        assert response.status == 303, f"{action} refused: {response.status}"

    async def _post(self, path: str, page: str, **fields: str) -> aiohttp.ClientResponse:
        """A form posted from `page`, with that page's CSRF token."""
        token = _CSRF.search(await self.page(page))
        assert token, f"no CSRF token on {page}"
        async with self._http.post(
            self._url + path,
            data={**fields, "csrf_token": token.group(1)},
            allow_redirects=False,
        ) as response:
            await response.read()
            return response
