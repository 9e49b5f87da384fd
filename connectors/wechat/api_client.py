"""Calls to the WeChat API: customer-service messages (客服消息) for answers that missed
the 5-second window, and the custom menu.

Calls are asynchronous (aiohttp) because they run inside the Rasa server's event loop;
wechatpy's client is synchronous (`requests`) and would block every conversation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable

import aiohttp

from connectors.state import ChannelState
from connectors.wechat.settings import Timing

logger = logging.getLogger(__name__)

# access_token invalid (40001), expired (42001) or not the latest (40014).
_STALE_TOKEN_ERRORS = {40001, 40014, 42001}
_TOKEN = "access-token"
_REFRESHING = "access-token-refresh"
# How often a process waiting for another's refresh looks for the new token.
_REFRESH_POLL_INTERVAL = 0.1


class DeliveryError(RuntimeError):
    """The WeChat API refused (`errcode`) or could not be reached (no errcode); the
    caller keeps the answer."""

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


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
    """The one access_token of the account, shared by every sender of every process.

    Fetching a token invalidates the previous one after a short overlap, so senders
    must not each fetch their own: the token lives in the channel state, and one
    process at a time refreshes it while the others wait for the new one.
    """

    def __init__(
        self,
        api: WeChatApi,
        app_id: str,
        app_secret: str,
        state: ChannelState,
        timing: Timing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._app_id = app_id
        self._app_secret = app_secret
        self._state = state
        self._timing = timing
        # Wall-clock time: expiry times are shared between processes.
        self._clock = clock
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            deadline = self._clock() + self._timing.api_timeout
            while True:
                token = await self._fresh_token()
                if token is not None:
                    return token
                if await self._claim_refresh():
                    try:
                        return await self._fetch()
                    finally:
                        await self._state.delete(_REFRESHING)
                if self._clock() > deadline:
                    raise DeliveryError("cgi-bin/token: another process did not refresh it")
                await asyncio.sleep(_REFRESH_POLL_INTERVAL)

    async def invalidate(self, token: str) -> None:
        """Forget `token` after the API rejected it, unless it was already replaced."""
        if (await self._stored()).get("token") == token:
            await self._state.delete(_TOKEN)

    async def _stored(self) -> dict:
        stored = await self._state.get(_TOKEN)
        return json.loads(stored) if stored else {}

    async def _fresh_token(self) -> str | None:
        stored = await self._stored()
        if stored and self._clock() < stored["expires_at"] - self._timing.token_refresh_margin:
            return str(stored["token"])
        return None

    async def _claim_refresh(self) -> bool:
        me = secrets.token_hex(8)
        return await self._state.setdefault(_REFRESHING, me, self._timing.api_timeout) == me

    async def _fetch(self) -> str:
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
        lifetime = float(data.get("expires_in", 7200))
        stored = {"token": str(token), "expires_at": self._clock() + lifetime}
        await self._state.put(_TOKEN, json.dumps(stored), lifetime)
        return str(token)


class WeChatClient:
    """The account's calls to the WeChat API, each with the shared access token."""

    def __init__(
        self, api_base: str, app_id: str, app_secret: str, state: ChannelState, timing: Timing
    ) -> None:
        self._api = WeChatApi(api_base, timing.api_timeout)
        self.tokens = AccessTokenHolder(self._api, app_id, app_secret, state, timing)

    async def send_text(self, openid: str, content: str) -> None:
        """A customer-service message; raises DeliveryError when the platform refuses it
        (e.g. 45015: 48 h since the resident's last message, 45047: 5-message limit,
        48001: the account is not certified for it)."""
        message = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        await self._post("cgi-bin/message/custom/send", message)

    async def create_menu(self, menu: dict) -> None:
        """Replaces the account's custom menu (自定义菜单)."""
        await self._post("cgi-bin/menu/create", menu)

    async def _post(self, path: str, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        # One retry with a fresh token: the 公众号 console or another tool may have
        # fetched a new one, which invalidates ours before its expiry.
        for attempt in range(2):
            token = await self.tokens.get()
            data = await self._api.call(
                "POST",
                path,
                params={"access_token": token},
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            errcode = int(data.get("errcode", 0))
            if errcode == 0:
                return
            if errcode in _STALE_TOKEN_ERRORS and attempt == 0:
                await self.tokens.invalidate(token)
                continue
            raise DeliveryError(f"{path}: errcode {errcode}", errcode)

    async def close(self) -> None:
        await self._api.close()
