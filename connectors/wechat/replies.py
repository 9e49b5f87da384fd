"""What the WeChat channel says on its own, without the model: responses of the domain
(`utter_wechat_*` in domain.yml), read once when the channel starts; a missing one
stops it, as the guard's do."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

DOMAIN_FILE = Path(__file__).resolve().parents[2] / "domain.yml"


@dataclass(frozen=True)
class Replies:
    """One text per field, from the response `utter_wechat_<field>`."""

    voice_unclear: str  # a voice message the platform could not transcribe
    image: str
    location: str
    other_type: str  # video, files, links …
    wait: str  # the answer is late and there is no customer-service API
    sorry: str  # Rasa failed on the message
    options_hint: str  # after numbered options
    more_hint: str  # after an answer cut to the passive reply's size

    def for_type(self, msg_type: str) -> str:
        """The answer to a message that is neither text, voice nor an event."""
        return {"image": self.image, "location": self.location}.get(msg_type, self.other_type)


def load_replies(domain_file: Path = DOMAIN_FILE) -> Replies:
    responses = yaml.safe_load(domain_file.read_text(encoding="utf-8")).get("responses") or {}

    def text(field: str) -> str:
        name = f"utter_wechat_{field}"
        variants = responses.get(name) or [{}]
        if not variants[0].get("text"):
            raise ValueError(f"{domain_file} has no text for the response {name}")
        return str(variants[0]["text"]).strip()

    return Replies(**{field.name: text(field.name) for field in fields(Replies)})
