"""Reads the project's YAML training data the way the tests need it (no model)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trainer import checks

# The training worker reads training data the same way (trainer/checks.py).
load, plain = checks.load, checks.plain

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bot" / "data"
CONTRACT = ROOT.parent / "shared" / "spec" / "intents.md"
# Labels added to the contract are listed in the README's table ("Labels added …").
ADDED_LABELS = ROOT / "README.md"


def yaml_files(folder: Path = DATA) -> list[Path]:
    return sorted(folder.rglob("*.yml"))


def examples_by_label(files: list[Path] | None = None) -> dict[str, list[str]]:
    """Annotated examples per label (intent or faq/<topic>) across the given files."""
    chosen = files if files is not None else yaml_files()
    return checks.examples_by_label(load(path) for path in chosen)


def responses() -> dict[str, list[dict[str, Any]]]:
    """Every response defined in the domain or beside the training data."""
    return checks.responses_of([load(ROOT / "domain.yml"), *map(load, yaml_files())])


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
