"""Customer-service messages (客服消息): answers that missed the 5-second window.

Calls are asynchronous (aiohttp) because they run inside the Rasa server's event loop;
wechatpy's client is synchronous (`requests`) and would block every conversation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import aiohttp

logger = logging.getLogger(__name__)

# access_token invalid (40001), expired (42001) or not the latest (40014).
_STALE_TOKEN_ERRORS = {40001, 40014, 42001}


class DeliveryError(RuntimeError):
    """The WeChat API refused or could not be reached; the caller keeps the answer."""


class WeChatApi:
    """JSON calls to the WeChat API at a configurable base URL (tests use a local fake)."""

    def __init__(self, api_base: str, timeout: float) -> None:
        self._api_base = api_base.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, path: str, **kwargs: object) -> dict:
        # The session is created lazily so it belongs to the server's running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = f"{self._api_base}/{path}"
        try:
            async with self._session.request(method, url, **kwargs) as response:
                # The API answers JSON with a text/plain content type.
                return json.loads(await response.text())
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            # The URL carries the access token or the secret: log the kind of error only.
            raise DeliveryError(f"{path}: {type(error).__name__}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class AccessTokenHolder:
    """The one access_token of the account, shared by every sender in this process.

    Fetching a token invalidates the previous one after a short overlap, so concurrent
    callers must not each fetch their own: a lock serialises refreshes. Several Rasa
    replicas would fight the same way; they need one shared holder (or the
    `cgi-bin/stable_token` API) instead of one per process.
    """

    def __init__(
        self,
        api: WeChatApi,
        app_id: str,
        app_secret: str,
        refresh_margin: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._app_id = app_id
        self._app_secret = app_secret
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self._refresh_margin:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` after the API rejected it, unless it was already replaced."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> None:
        data = await self._api.call(
            "GET",
            "cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self._app_id,
                "secret": self._app_secret,
            },
        )
        token = data.get("access_token")
        if not token:
            raise DeliveryError(f"cgi-bin/token: errcode {data.get('errcode')}")
        self._token = str(token)
        self._expires_at = self._clock() + float(data.get("expires_in", 7200))


class CustomerServiceClient:
    """Sends text messages to a resident outside the passive-reply window."""

    def __init__(
        self,
        api_base: str,
        app_id: str,
        app_secret: str,
        timeout: float,
        refresh_margin: float,
    ) -> None:
        self._api = WeChatApi(api_base, timeout)
        self.tokens = AccessTokenHolder(self._api, app_id, app_secret, refresh_margin)

    async def send_text(self, openid: str, content: str) -> None:
        """Raises DeliveryError when the platform does not accept the message."""
        body = json.dumps(
            {"touser": openid, "msgtype": "text", "text": {"content": content}},
            ensure_ascii=False,
        ).encode()
        # One retry with a fresh token: another replica or the console may have
        # fetched a new one, which invalidates ours before its expiry.
        for attempt in range(2):
            token = await self.tokens.get()
            data = await self._api.call(
                "POST",
                "cgi-bin/message/custom/send",
                params={"access_token": token},
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            errcode = int(data.get("errcode", 0))
            if errcode == 0:
                return
            if errcode in _STALE_TOKEN_ERRORS and attempt == 0:
                self.tokens.invalidate(token)
                continue
            # e.g. 45015 (48 h window passed), 45047 (5-message limit), 48001 (not certified)
            raise DeliveryError(f"custom/send: errcode {errcode}")

    async def close(self) -> None:
        await self._api.close()
