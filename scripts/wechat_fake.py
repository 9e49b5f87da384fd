"""The WeChat platform's two sides for the benchmark, on loopback.

`FakePlatform` pushes messages as the platform does in safe mode (signed, AES
envelopes) and opens the channel's replies; it uses the channel's own envelope code,
so it measures the channel rather than checks it (tests/connectors/wechat_platform.py
is the independent simulator the tests use). `FakeApi` serves the access token and
customer-service messages the channel calls for answers that missed the deadline.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from connectors.wechat.crypto import EnvelopeCrypto
from connectors.wechat.xmlio import parse_flat_xml


class FakePlatform:
    def __init__(self, token: str, app_id: str, encoding_aes_key: str) -> None:
        self._crypto = EnvelopeCrypto(token, encoding_aes_key, app_id)

    def text(self, openid: str, content: str, msg_id: int) -> tuple[dict[str, str], bytes]:
        """Query and body of a text message push."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        xml = (
            f"<xml><ToUserName><![CDATA[gh_benchmark]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )
        envelope = self._crypto.seal(xml, nonce, timestamp)
        query = {
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": parse_flat_xml(envelope)["MsgSignature"],
        }
        return query, envelope.encode()

    def reply_text(self, body: str) -> str | None:
        """The text of a passive reply; None for "success"."""
        if body in ("", "success"):
            return None
        fields = parse_flat_xml(body)
        inner = self._crypto.open(
            body.encode(), fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
        )
        return parse_flat_xml(inner).get("Content") or None


class FakeApi:
    """`cgi-bin/token` and `cgi-bin/message/custom/send`; each resident's messages wait
    in an inbox of their own."""

    def __init__(self) -> None:
        self.inboxes: defaultdict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)

    @asynccontextmanager
    async def serving(self, port: int) -> AsyncIterator[None]:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield
        finally:
            await runner.cleanup()

    async def _token(self, _: web.Request) -> web.Response:
        body = {"access_token": "BENCHMARK", "expires_in": 7200}
        return web.json_response(body, content_type="text/plain")

    async def _send(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.inboxes[payload["touser"]].put_nowait(payload["text"]["content"])
        return web.json_response({"errcode": 0, "errmsg": "ok"})
