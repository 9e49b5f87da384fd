"""Reads the project's YAML training data the way the tests need it (no model)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bot" / "data"
CONTRACT = ROOT.parent / "shared" / "spec" / "intents.md"
# Labels added to the contract are listed in the README's table ("Labels added …").
ADDED_LABELS = ROOT / "README.md"

# [text](entity) or [text]{"entity": ...}: keep the text, drop the markup.
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def plain(example: str) -> str:
    return ANNOTATION.sub(r"\1", example)


def yaml_files(folder: Path = DATA) -> list[Path]:
    return sorted(folder.rglob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def examples_by_label(files: list[Path] | None = None) -> dict[str, list[str]]:
    """Annotated examples per label (intent or faq/<topic>) across the given files."""
    labels: dict[str, list[str]] = defaultdict(list)
    for path in files if files is not None else yaml_files():
        for block in load(path).get("nlu") or []:
            if "intent" in block:
                labels[block["intent"]].extend(
                    line[2:].strip()
                    for line in block["examples"].splitlines()
                    if line.strip().startswith("- ")
                )
    return dict(labels)


def responses() -> dict[str, list[dict[str, Any]]]:
    """Every response defined in the domain or beside the training data."""
    found = dict(load(ROOT / "domain.yml").get("responses") or {})
    for path in yaml_files():
        found.update(load(path).get("responses") or {})
    return found


def added_labels_table() -> str:
    """The README's section "Labels added to the contract", up to the next heading."""
    readme = ADDED_LABELS.read_text(encoding="utf-8")
    section = readme.split("### Labels added to the contract", 1)[1]
    return re.split(r"^#", section, maxsplit=1, flags=re.MULTILINE)[0]


def contract_labels() -> tuple[list[str], list[str], list[str]]:
    """(intents, faq topics, entities) named in the shared label contract."""
    text = CONTRACT.read_text(encoding="utf-8") + added_labels_table()
    names = re.findall(r"^\| (`?[a-z_/]+`?) \|", text, flags=re.MULTILINE)
    names = [n.strip("`") for n in names if n not in ("intent", "sub-intent", "entity", "label")]
    topics = [n for n in names if n.startswith("faq/")]
    entities = ["person_name", "id_number", "phone", "township", "tracking_number"]
    intents = [n for n in names if n not in topics and n not in entities]
    return intents, topics, [e for e in entities if e in names]
