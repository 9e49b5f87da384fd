"""Handoff to a person on the channels' side: the status store routes every resident
message before the assistant sees it (the guard asks `HandoffDesk.answer` in the
sender's turn, connectors/guard.py), so the assistant is silent while a person has the
conversation — on every channel and every replica, since only the store knows.

- A staff member has the conversation (`active`), or outside office hours the store
  waits for the resident's message (`awaiting_message`): the store keeps the message for
  staff and the assistant never sees it. Its conversation does not change, so handing
  back resumes it where it was. A message left outside office hours is acknowledged
  (`utter_handoff_message_taken`); one to a staff member is not: staff answer through
  the notices (rasa_runtime/notices.py).
- A reply to an open rating invitation (好差评: 「4 太慢了」) is recorded by the store
  (`rated`): the assistant never sees it, and the resident is thanked
  (`utter_rating_thanks`), or told that staff will call back when the level is
  dissatisfied or very dissatisfied (`utter_rating_sorry`).
- Words that call the wait off (`handoff_cancel_words` in bot/lexicon/words.yml:
  「不等了」) close a handoff no staff member has taken yet (`utter_handoff_cancelled`).
  They are read here, not by the model: they must work when the message would otherwise
  go to staff (outside office hours the next message is the one left), they need no
  training data, and staff edit the list.
- The store not answering within HANDOFF_ROUTE_TIMEOUT_SECONDS (down, slow): the
  assistant answers as usual, so no resident is left without an answer; this is logged
  without the message or the conversation, and the store is not asked again for
  HANDOFF_ROUTE_PAUSE_SECONDS.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from connectors.domain_words import DOMAIN_FILE, first_texts
from rasa_runtime import settings

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "STORE_SERVICE_TOKEN"
WORDS_FILE = Path(__file__).resolve().parents[1] / "bot" / "lexicon" / "words.yml"
CANCEL_WORDS = "handoff_cancel_words"
MESSAGE_TAKEN_RESPONSE = "utter_handoff_message_taken"
CANCELLED_RESPONSE = "utter_handoff_cancelled"
RATING_THANKS_RESPONSE = "utter_rating_thanks"
RATING_SORRY_RESPONSE = "utter_rating_sorry"
# The levels of 差评 (backend/openapi.yaml, schema Route): a rectification follows.
BAD_LEVELS = frozenset({"dissatisfied", "very_dissatisfied"})
# Spaces and punctuation between the words (「不 等 了！」) do not hide them.
_NOT_A_WORD = re.compile(r"[\W_]+")


class StoreUnavailable(RuntimeError):
    """The store did not answer, or not as its contract says."""


class StoreRefused(RuntimeError):
    """The store answered 4xx: this message cannot be routed (not an outage)."""


@dataclass(frozen=True)
class Route:
    to_staff: bool
    message_taken: bool
    rated: str | None  # the level recorded when the message answered a rating invitation


@dataclass(frozen=True)
class HandoffWords:
    message_taken: str
    cancelled: str
    rating_thanks: str
    rating_sorry: str
    cancel_words: tuple[str, ...]

    @classmethod
    def load(cls, domain_file: Path = DOMAIN_FILE, words_file: Path = WORDS_FILE) -> HandoffWords:
        names = [
            MESSAGE_TAKEN_RESPONSE,
            CANCELLED_RESPONSE,
            RATING_THANKS_RESPONSE,
            RATING_SORRY_RESPONSE,
        ]
        texts = first_texts(names, domain_file)
        lexicon = yaml.safe_load(words_file.read_text(encoding="utf-8"))
        return cls(
            *(texts[name] for name in names),
            tuple(str(word) for word in lexicon[CANCEL_WORDS]),
        )

    def after_rating(self, level: str) -> str:
        return self.rating_sorry if level in BAD_LEVELS else self.rating_thanks

    def asks_to_cancel(self, text: str) -> bool:
        plain = _NOT_A_WORD.sub("", text)
        return any(word in plain for word in self.cancel_words)


class HandoffStore:
    """The store's routes for the channels: `/handoffs/route` and `/handoffs/cancel`."""

    def __init__(self, url: str, token: str, timeout_seconds: float) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def route(self, conversation_id: str, text: str) -> Route:
        body = {"conversation_id": conversation_id, "text": text}
        answer = await self._post("/handoffs/route", body)
        # Anything but a plain yes leaves the message to the assistant.
        rated = answer.get("rated")
        return Route(
            answer.get("to_staff") is True,
            answer.get("message_taken") is True,
            rated if isinstance(rated, str) and rated else None,
        )

    async def cancel(self, conversation_id: str) -> bool:
        answer = await self._post("/handoffs/cancel", {"conversation_id": conversation_id})
        return answer.get("cancelled") is True

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self._session().post(
                self._url + path, json=body, headers=self._headers, timeout=self._timeout
            ) as response:
                if 400 <= response.status < 500:
                    raise StoreRefused(f"{path}: HTTP {response.status}")
                if response.status != 200:
                    raise StoreUnavailable(f"{path}: HTTP {response.status}")
                answer = await response.json()
                if not isinstance(answer, dict):
                    raise StoreUnavailable(f"{path}: not a JSON object")
                return answer
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise StoreUnavailable(f"{path}: {type(error).__name__}") from None

    def _session(self) -> aiohttp.ClientSession:
        # Made on the loop that uses it: the server's, once it runs.
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.closed or self._loop is not loop:
            self._http, self._loop = aiohttp.ClientSession(), loop
        return self._http


class HandoffDesk:
    """Decides, before the assistant, what a resident's message is for (module doc)."""

    def __init__(
        self,
        store: HandoffStore | None,
        words: HandoffWords,
        pause_seconds: float = settings.HANDOFF_ROUTE_PAUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._words = words
        self._pause_seconds = pause_seconds
        self._clock = clock
        self._paused_until: float | None = None

    async def answer(self, conversation_id: str, text: str) -> str | None:
        """What the resident is told instead of the assistant's answer ("" for nothing),
        or None when the assistant answers."""
        if self._store is None or self._paused():
            return None
        try:
            if self._words.asks_to_cancel(text) and await self._store.cancel(conversation_id):
                return self._words.cancelled
            route = await self._store.route(conversation_id, text)
        except StoreRefused as refused:
            logger.warning("Handoff routing refused, the assistant answers (%s)", refused)
            return None
        except StoreUnavailable as error:
            self._pause(error)
            return None
        except Exception as error:  # routing must never cost a resident their answer
            # The type only: an exception's text may quote the message.
            logger.error("Handoff routing failed, the assistant answers (%s)", type(error).__name__)
            return None
        self._resumed()
        if route.to_staff:
            return self._words.message_taken if route.message_taken else ""
        if route.rated is not None:
            return self._words.after_rating(route.rated)
        return None

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

    def _paused(self) -> bool:
        return self._paused_until is not None and self._clock() < self._paused_until

    def _pause(self, error: StoreUnavailable) -> None:
        if self._paused_until is None:
            # The store going down is logged once, not with every message meanwhile.
            logger.warning(
                "Handoff routing: the store did not answer (%s); the assistant answers "
                "every message until it does",
                error,
            )
        self._paused_until = self._clock() + self._pause_seconds

    def _resumed(self) -> None:
        if self._paused_until is not None:
            logger.info("Handoff routing: the store answers again")
        self._paused_until = None


@functools.cache
def shared_desk() -> HandoffDesk:
    """The server's one desk, shared by its channels; without the store's service token
    routing is off (logged): the assistant answers every message."""
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        logger.warning(
            "Handoff routing off: %s is not set, the assistant answers residents whom "
            "staff have taken over.",
            TOKEN_VARIABLE,
        )
        return HandoffDesk(None, HandoffWords.load())
    store = HandoffStore(settings.STORE_URL, token, settings.HANDOFF_ROUTE_TIMEOUT_SECONDS)
    return HandoffDesk(store, HandoffWords.load())


async def close_shared_desk() -> None:
    """Closes the shared desk's connections (the server is stopping)."""
    if shared_desk.cache_info().currsize:
        await shared_desk().close()
