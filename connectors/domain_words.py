"""What the channels say themselves, without the model, read from the domain: residents'
words are staff's to edit there, whoever says them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

DOMAIN_FILE = Path(__file__).resolve().parents[1] / "domain.yml"


def first_texts(names: Iterable[str], domain_file: Path = DOMAIN_FILE) -> dict[str, str]:
    """The first text of each named response; a missing one is an error (it stops the
    channel that needs it at start, not a resident's turn later)."""
    responses = yaml.safe_load(domain_file.read_text(encoding="utf-8")).get("responses") or {}
    texts = {}
    for name in names:
        variations = responses.get(name) or [{}]
        found = variations[0].get("text")
        if not isinstance(found, str) or not found.strip():
            raise ValueError(f"{domain_file} has no text for the response {name}")
        texts[name] = found
    return texts
