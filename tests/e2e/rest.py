"""A resident talking to the running assistant through the REST channel only."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from typing import Any

from tests.servers import Stack


def post_json(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


class Resident:
    """One sender; `say` returns the bot's texts, `buttons` the last buttons offered."""

    def __init__(self, stack: Stack, sender: str | None = None) -> None:
        self.stack = stack
        self.sender = sender or f"resident-{uuid.uuid4().hex[:8]}"
        self.buttons: list[dict[str, str]] = []

    def say(self, text: str) -> str:
        replies = post_json(
            f"{self.stack.rasa_url}/webhooks/rest/webhook",
            {"sender": self.sender, "message": text},
        )
        self.buttons = [button for reply in replies for button in reply.get("buttons") or []]
        return "\n".join(reply.get("text") or "" for reply in replies)

    def tracker(self) -> dict[str, Any]:
        url = f"{self.stack.rasa_url}/conversations/{self.sender}/tracker?token={self.stack.api_token}"
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)


def tracking_number_in(text: str) -> str:
    match = re.search(r"DA[0-9]{12}", text)
    assert match, f"no tracking number in: {text}"
    return match.group(0)
