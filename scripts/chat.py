"""A terminal chat with the running assistant through its REST channel."""

from __future__ import annotations

import json
import urllib.request
import uuid

WEBHOOK = "http://127.0.0.1:5005/webhooks/rest/webhook"


def send(sender: str, text: str) -> list[dict]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(
        WEBHOOK, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def show(reply: dict) -> None:
    if reply.get("text"):
        print(f"小助手: {reply['text']}")
    for number, button in enumerate(reply.get("buttons") or [], start=1):
        print(f"   {number}. {button['title']}")


def main() -> None:
    sender = f"terminal-{uuid.uuid4().hex[:8]}"
    buttons: list[dict] = []
    while True:
        text = input("您: ").strip()
        if not text:
            continue
        # A digit picks one of the buttons just shown, as on WeChat.
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        replies = send(sender, text)
        buttons = [b for reply in replies for b in reply.get("buttons") or []]
        for reply in replies:
            show(reply)


if __name__ == "__main__":
    try:
        main()
    except (EOFError, KeyboardInterrupt):
        print()
