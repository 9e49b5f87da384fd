"""What residents read: the actions name responses, Rasa fills them from the domain."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import ROOT

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def rendered(messages: list[dict[str, Any]]) -> list[str]:
    """Each message's text, a named response filled with the values sent beside it.

    Like Rasa's templated generator for responses without conditions; a conditional
    response is rendered from its first variation.
    """
    texts = []
    for message in messages:
        if message.get("response"):
            template = DOMAIN["responses"][message["response"]][0]["text"]
            values = {key: value for key, value in message.items() if value is not None}
            texts.append(template.format(**values))
        else:
            texts.append(message["text"])
    return texts
