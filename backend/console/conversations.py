"""A resident's conversation as staff see it: read from the Rasa server's tracker.

The Rasa server keeps conversations (encrypted, rasa_runtime/trackers.py); the console
asks its HTTP API (STORE_RASA_URL with RASA_API_TOKEN) for the messages around a
captured question, and shows them masked. When the Rasa server is not configured or does
not answer, or the resident deleted the conversation, staff are told so; nothing else
depends on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

import aiohttp

from backend.console.display import for_staff
from personaldata.masks import pseudonym

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 3
BEFORE = 6
AFTER = 4


@dataclass(frozen=True)
class Message:
    from_resident: bool
    text: str
    at: datetime


@dataclass(frozen=True)
class Excerpt:
    """The messages around a moment, or why there are none (`problem`)."""

    messages: tuple[Message, ...] = ()
    problem: str | None = None


def messages_of(events: list[dict]) -> list[Message]:
    """What the resident and the assistant said, masked, in order."""
    messages = []
    for event in events:
        if event.get("event") not in ("user", "bot") or not isinstance(event.get("text"), str):
            continue
        messages.append(
            Message(
                from_resident=event["event"] == "user",
                text=for_staff(event["text"]),
                at=datetime.fromtimestamp(float(event.get("timestamp", 0)), timezone.utc),
            )
        )
    return messages


def around(messages: list[Message], moment: datetime) -> tuple[Message, ...]:
    """BEFORE messages up to the resident's message nearest `moment`, and AFTER after it."""
    said = [index for index, message in enumerate(messages) if message.from_resident]
    if not said:
        return tuple(messages[-(BEFORE + AFTER) :])
    nearest = min(said, key=lambda index: abs((messages[index].at - moment).total_seconds()))
    end = nearest + AFTER + 1
    # Never end on the resident's words without the assistant's answer to them.
    if messages[end - 1 : end] and messages[end - 1].from_resident:
        while end < len(messages) and not messages[end].from_resident:
            end += 1
    return tuple(messages[max(0, nearest - BEFORE) : end])


class Conversations:
    def __init__(self, rasa_url: str | None, token: str | None) -> None:
        self._rasa_url = rasa_url.rstrip("/") if rasa_url else None
        self._token = token
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def excerpt(
        self, conversation_id: str, moment: datetime, *, until: bool = False
    ) -> Excerpt:
        """The messages around `moment`, or (`until`) those up to it only: what was said
        before a handoff, without what the assistant said meanwhile."""
        if self._rasa_url is None:
            return Excerpt(problem="未配置对话服务地址（STORE_RASA_URL），看不到上下文")
        try:
            events = await self._events(conversation_id)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            logger.warning(
                "conversation %s unavailable: %s", pseudonym(conversation_id), type(error).__name__
            )
            return Excerpt(problem="对话服务暂时连不上，上下文稍后再看")
        messages = messages_of(events)
        if until:
            messages = [message for message in messages if message.at <= moment]
        if not messages:
            return Excerpt(problem="没有对话记录（居民可能已删除聊天记录）")
        return Excerpt(messages=around(messages, moment))

    async def _events(self, conversation_id: str) -> list[dict]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
        url = f"{self._rasa_url}/conversations/{quote(conversation_id, safe='')}/tracker"
        params = {"include_events": "ALL"}
        if self._token:
            params["token"] = self._token
        async with self._http.get(url, params=params) as response:
            if response.status == 404:
                return []
            response.raise_for_status()
            tracker = await response.json()
        events = tracker.get("events") if isinstance(tracker, dict) else None
        if not isinstance(events, list):
            raise ValueError("tracker without events")
        return events
