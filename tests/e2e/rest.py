"""A resident talking to the running assistant through the REST channel only.

The stacks of the end-to-end tests open the REST channel without authentication
(`OPEN_REST`, as the local profile does): a sender `x` talks in the conversation
`rest:x`. A production stack signs every request as one of its clients
(`RestClient`), and the conversation is `rest:<client>:x`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from connectors.rest import CLIENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_for
from scripts.id_numbers import resident_id_number
from tests.servers import Stack

# The channels of a local stack: REST open to the tests on loopback.
OPEN_REST = "connectors.rest.RestInput:\n  authentication: none\n"
# The end-to-end tests share a store, which takes one open application per person and
# service: each resident applies for a person of their own.
_people = itertools.count()


@dataclass(frozen=True)
class RestClient:
    """An integration of the production profile: one entry of REST_CLIENT_SECRETS."""

    name: str
    secret: str

    def headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {
            CLIENT_HEADER: self.name,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature_for(self.secret, timestamp, body),
        }


def post_json(
    url: str, body: dict[str, Any], token: str | None = None, client: RestClient | None = None
) -> Any:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(client.headers(data) if client else {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        # The channel's reason (e.g. stale_timestamp, replayed) says what went wrong.
        raise AssertionError(f"{url}: {error.code} {error.read()[:300]!r}") from None


class Resident:
    """One sender; `say` returns the bot's texts, `buttons` the last buttons offered.

    `id_number` is the ID number of the person this resident applies for, old enough for
    the elderly card and used by no other resident of the test run.
    """

    def __init__(
        self, stack: Stack, sender: str | None = None, client: RestClient | None = None
    ) -> None:
        self.stack = stack
        self.sender = sender or f"resident-{uuid.uuid4().hex[:8]}"
        self.client = client
        self.buttons: list[dict[str, str]] = []
        self.id_number = resident_id_number(next(_people))

    @property
    def conversation_id(self) -> str:
        """The conversation the channel puts this sender in (and the store records)."""
        if self.client:
            return f"rest:{self.client.name}:{self.sender}"
        return f"rest:{self.sender}"

    def say(self, text: str) -> str:
        replies = post_json(
            f"{self.stack.rasa_url}/webhooks/rest/webhook",
            {"sender": self.sender, "message": text},
            client=self.client,
        )
        self.buttons = [button for reply in replies for button in reply.get("buttons") or []]
        return "\n".join(reply.get("text") or "" for reply in replies)

    def tracker(self) -> dict[str, Any]:
        url = (
            f"{self.stack.rasa_url}/conversations/{self.conversation_id}/tracker"
            f"?token={self.stack.api_token}"
        )
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)


def tracking_number_in(text: str) -> str:
    match = re.search(r"DA[0-9]{12}", text)
    assert match, f"no tracking number in: {text}"
    return match.group(0)
