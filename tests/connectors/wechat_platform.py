"""The WeChat platform's two sides, simulated for the tests.

`SimulatedPlatform` sends requests as the platform would: it signs with the account's
token, encrypts in safe mode and reads (decrypts and checks) the channel's replies.
`SimulatedApi` serves the part of the platform's API the channel calls (access token,
customer-service messages) on loopback; the real one cannot be reached from here.
"""

from __future__ import annotations

import asyncio
import queue
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiohttp import web
from wechatpy.crypto import PrpCrypto

from connectors.wechat.crypto import decode_aes_key
from connectors.wechat.signature import sign, verify
from connectors.wechat.xmlio import parse_flat_xml


class SimulatedPlatform:
    def __init__(
        self,
        token: str,
        app_id: str | None = None,
        encoding_aes_key: str | None = None,
        account: str = "gh_daan_test",
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.account = account
        self._key = decode_aes_key(encoding_aes_key) if encoding_aes_key else None

    def handshake(self, echostr: str, timestamp: int | None = None) -> dict[str, str]:
        """Query of the URL check (GET)."""
        return {**self._signed_query(timestamp), "echostr": echostr}

    def text(
        self, openid: str, content: str, msg_id: int, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        fields = {"MsgType": "text", "Content": content, "MsgId": str(msg_id)}
        return self.push(openid, fields, timestamp)

    def event(
        self, openid: str, event: str, timestamp: int | None = None, key: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        fields = {"MsgType": "event", "Event": event, **({"EventKey": key} if key else {})}
        return self.push(openid, fields, timestamp)

    def push(
        self, openid: str, fields: dict[str, str], timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Query and body of a message push (POST), encrypted when a key is set."""
        created = str(timestamp or int(time.time()))
        xml = _flat_xml(
            {"ToUserName": self.account, "FromUserName": openid, "CreateTime": created, **fields}
        )
        query = self._signed_query(timestamp)
        if self._key is None:
            return query, xml.encode()
        encrypted = PrpCrypto(self._key).encrypt(xml, self.app_id).decode()
        query["encrypt_type"] = "aes"
        query["msg_signature"] = sign(self.token, query["timestamp"], query["nonce"], encrypted)
        envelope = _flat_xml({"ToUserName": self.account, "Encrypt": encrypted})
        return query, envelope.encode()

    def read_reply(self, body: str) -> dict[str, str] | None:
        """The reply's fields, or None for "no reply"; checks the reply's signature."""
        if body in ("", "success"):
            return None
        fields = parse_flat_xml(body)
        if self._key is None:
            return fields
        signed = (self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
        if not verify(fields["MsgSignature"], *signed):
            raise ValueError("reply msg_signature mismatch")
        return parse_flat_xml(PrpCrypto(self._key).decrypt(fields["Encrypt"], self.app_id))

    def _signed_query(self, timestamp: int | None) -> dict[str, str]:
        stamp = str(timestamp or int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        return {"timestamp": stamp, "nonce": nonce, "signature": sign(self.token, stamp, nonce)}


def _flat_xml(fields: dict[str, str]) -> str:
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"


class SimulatedApi:
    """`cgi-bin/token`, `cgi-bin/message/custom/send` and `cgi-bin/menu/create`,
    recording what arrives."""

    def __init__(self, app_id: str, app_secret: str) -> None:
        self._credentials = (app_id, app_secret)
        self.token_requests = 0
        self.sent: list[dict[str, Any]] = []
        self.menu: dict[str, Any] | None = None
        # Each resident's customer-service messages, in the order they arrived; thread
        # safe, so a test may serve the API from a thread of its own.
        self.inboxes: defaultdict[str, queue.Queue[str]] = defaultdict(queue.Queue)
        # An errcode the next send is refused with (quota used up, token expired…).
        self.reject_next_with: int | None = None

    async def next_message(self, openid: str, timeout: float = 60.0) -> str:
        """The resident's next customer-service message, waiting for it to arrive
        (`timeout` only ends a test that would otherwise hang)."""
        return await asyncio.to_thread(self.inboxes[openid].get, timeout=timeout)

    @contextmanager
    def serving_in_thread(self) -> Iterator[str]:
        """Like `serving`, on a loop of its own: for servers started outside any test's
        event loop. Yields the base URL."""
        loop = asyncio.new_event_loop()
        started: queue.Queue[str] = queue.Queue()
        stop = asyncio.Event()

        async def serve() -> None:
            async with self.serving() as base:
                started.put(base)
                await stop.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        thread.start()
        try:
            yield started.get(timeout=30)
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=30)
            loop.close()

    @asynccontextmanager
    async def serving(self, port: int = 0) -> AsyncIterator[str]:
        """Runs on a loopback port (a free one by default); yields the base URL
        (WECHAT_API_BASE)."""
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        app.router.add_post("/cgi-bin/menu/create", self._create_menu)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        if (request.query.get("appid"), request.query.get("secret")) != self._credentials:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.token_requests += 1
        body = {"access_token": f"ACCESS_{self.token_requests}", "expires_in": 7200}
        # The platform labels its JSON as text/plain.
        return web.json_response(body, content_type="text/plain")

    async def _create_menu(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != f"ACCESS_{self.token_requests}":
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.menu = await request.json()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _send(self, request: web.Request) -> web.Response:
        if self.reject_next_with is not None:
            errcode, self.reject_next_with = self.reject_next_with, None
            return web.json_response({"errcode": errcode, "errmsg": "rejected"})
        payload = await request.json()
        self.sent.append({"access_token": request.query["access_token"], **payload})
        self.inboxes[payload["touser"]].put_nowait(payload["text"]["content"])
        return web.json_response({"errcode": 0, "errmsg": "ok"})
