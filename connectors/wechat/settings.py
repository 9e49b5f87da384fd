"""Configuration of the WeChat channel: secrets from the environment, timing in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_API_BASE = "https://api.weixin.qq.com"

# Environment variable for each credentials key. credentials.yml names the channel
# without `${...}` values because Rasa refuses to start when such a variable is unset,
# and the channel must simply be off when WECHAT_TOKEN is missing.
ENV_VARS = {
    "token": "WECHAT_TOKEN",
    "app_id": "WECHAT_APP_ID",
    "encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
    "app_secret": "WECHAT_APP_SECRET",
    "api_base": "WECHAT_API_BASE",
    "redis_url": "WECHAT_REDIS_URL",
}


@dataclass(frozen=True)
class Timing:
    """Every deadline and lifetime the channel uses; tests shorten them, never sleep."""

    # The platform gives up after 5 s; 0.5 s is left for decryption and the network.
    deadline: float = 4.5
    # The platform defines no freshness window; 5 minutes tolerates clock skew.
    freshness: float = 300.0
    # access_token lives 7200 s; a new one is fetched this long before it expires.
    token_refresh_margin: float = 300.0
    # Outgoing calls to the WeChat API.
    api_timeout: float = 10.0
    # Numbered options and undelivered answers are kept this long per resident; the
    # customer-service window is 48 h, after which an answer is stale anyway.
    memory_ttl: float = 48 * 3600.0

    @property
    def dedup_ttl(self) -> float:
        """How long a message (and the body bound to a signed query) is remembered.

        A timestamp is accepted from `freshness` before it to `freshness` after it, so
        one message can arrive, and be replayed, across twice the window: remembering
        it that long (plus a deadline for the time between the check and the record)
        means a replay is either stale, and refused, or recognised as a duplicate.
        """
        return 2 * self.freshness + self.deadline


@dataclass(frozen=True)
class Limits:
    """Sizes beyond which input is refused and output is cut."""

    # A text message plus its envelope is a few KiB even when encrypted (base64 adds a
    # third); anything much bigger is not from the platform.
    max_body_bytes: int = 64 * 1024
    # The platform's limit for a passive reply is about 2048 bytes of content.
    max_reply_bytes: int = 2000
    max_echostr_chars: int = 512
    # Bounded in-memory stores: this process's jobs, and the channel state when it is
    # not in Redis (seen MsgIds, numbered options, mailboxes, bound bodies).
    max_entries: int = 50_000


@dataclass(frozen=True)
class WeChatSettings:
    """Secrets and endpoints of one Official Account."""

    token: str | None = None
    app_id: str | None = None
    encoding_aes_key: str | None = None
    app_secret: str | None = None
    api_base: str = DEFAULT_API_BASE
    # Several Rasa workers or replicas share the channel state here (state.py).
    redis_url: str | None = None

    @classmethod
    def from_sources(
        cls, credentials: Mapping[str, Any] | None, environ: Mapping[str, str] = os.environ
    ) -> WeChatSettings:
        """Values from credentials.yml win; the environment fills the rest."""
        credentials = credentials or {}
        values = {}
        for key, env_var in ENV_VARS.items():
            value = credentials.get(key) or environ.get(env_var) or None
            if value is not None:
                values[key] = str(value).strip() or None
        if not values.get("api_base"):
            values.pop("api_base", None)
        return cls(**values)

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def safe_mode(self) -> bool:
        """With an AES key configured, only encrypted (safe or compatibility) posts count."""
        return bool(self.encoding_aes_key)

    @property
    def customer_service(self) -> bool:
        """The customer-service API needs an access token, hence AppID and AppSecret."""
        return bool(self.app_id and self.app_secret)
