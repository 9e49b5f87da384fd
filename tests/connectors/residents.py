"""A resident writing to a served assistant (the channel tests' app on loopback)."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
from wechat_harness import platform


async def wechat_says(http: aiohttp.ClientSession, url: str, openid: str, text: str) -> str:
    """The passive reply to a resident's WeChat message."""
    wechat = platform()
    query, body = wechat.text(openid, text, uuid.uuid4().int % 10**12)
    async with http.post(f"{url}/webhooks/wechat/webhook", params=query, data=body) as response:
        assert response.status == 200
        reply = wechat.read_reply(await response.text())
    assert reply is not None
    return reply["Content"]


async def rest_says(
    http: aiohttp.ClientSession, url: str, sender: str, text: str
) -> list[dict[str, Any]]:
    body = {"sender": sender, "message": text}
    async with http.post(f"{url}/webhooks/rest/webhook", json=body) as response:
        assert response.status == 200
        return await response.json()
