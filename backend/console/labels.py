"""The labels staff can assign a question to: the assistant's intents and its FAQ and
referral topics, read from the assistant's files (domain.yml and bot/data), with the
short title each topic shows in "did you mean" buttons. The store reads them as data; it
imports nothing of the assistant."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from backend.config import REPO_ROOT

RETRIEVAL_INTENTS = ("faq", "out_of_scope")
REFERRAL = "不归乡镇管"
OTHER_REFERRALS = "不归乡镇管的其他事"


@dataclass(frozen=True)
class Label:
    name: str
    title: str


def _responses(path: Path) -> dict:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return document.get("responses") or {}


def _referral_title(topic: str, title: str) -> str:
    """A referral's button title is an example question (「今天天气咋样」 for the rest):
    staff need to see that it is a referral, and of what."""
    return OTHER_REFERRALS if topic == "other" else f"{REFERRAL}：{title}"


def read_labels(root: Path = REPO_ROOT) -> tuple[Label, ...]:
    """Intents (but the retrieval intents themselves), then topics, each sorted."""
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    intents = [
        Label(name, name)
        for name in sorted(domain.get("intents", []))
        if isinstance(name, str) and name not in RETRIEVAL_INTENTS and name != "nlu_fallback"
    ]
    topics = {}
    for path in [root / "domain.yml", *sorted((root / "bot" / "data").rglob("*.yml"))]:
        for key, variants in _responses(path).items():
            retrieval, _, topic = key.removeprefix("utter_").partition("/")
            if retrieval in RETRIEVAL_INTENTS and topic:
                metadata = (variants[0] or {}).get("metadata") or {}
                title = str(metadata.get("title") or topic)
                topics[f"{retrieval}/{topic}"] = (
                    title if retrieval == "faq" else _referral_title(topic, title)
                )
    return tuple(intents) + tuple(Label(name, topics[name]) for name in sorted(topics))
