"""The knowledge base's rules, over parsed training data: one source for the training
worker (which refuses to train on data breaking them) and tests/data (which checks the
repository's own data with the same functions).

Rasa's own validation cannot see these: `faq/a` and `faq/b` are one intent to it, so an
example under two topics, or a topic without its answer, passes `rasa data validate`.
Problems are short Chinese sentences, shown to the admin as the reason a run failed.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bot.actions.plain_time import CHINA_TIME

MAX_ANSWER_CHARS = 200
# Referrals (utter_out_of_scope/<matter>) say only where to go, so they are shorter.
MAX_REFERRAL_CHARS = 120
ANSWER_LIMITS = {"utter_faq/": MAX_ANSWER_CHARS, "utter_out_of_scope/": MAX_REFERRAL_CHARS}
RETRIEVAL_INTENTS = ("faq", "out_of_scope")

# [text](entity) or [text]{"entity": ...}: keep the text, drop the markup.
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")

Documents = Iterable[dict[str, Any]]


def plain(example: str) -> str:
    """An example's text as the resident types it (annotations removed)."""
    return ANNOTATION.sub(r"\1", example)


def read_documents(folder: Path) -> list[dict[str, Any]]:
    """Every YAML training data file under `folder`, parsed, in a stable order."""
    return [load(path) for path in sorted(folder.rglob("*.yml"))]


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def examples_by_label(documents: Documents) -> dict[str, list[str]]:
    """Annotated examples per label (intent or faq/<topic>) across the documents."""
    labels: dict[str, list[str]] = defaultdict(list)
    for document in documents:
        for block in document.get("nlu") or []:
            if "intent" in block:
                labels[block["intent"]].extend(
                    line[2:].strip()
                    for line in str(block.get("examples") or "").splitlines()
                    if line.strip().startswith("- ")
                )
    return dict(labels)


def responses_of(documents: Documents) -> dict[str, list[dict[str, Any]]]:
    """Every response of the documents; a later document's replaces an earlier one's."""
    found: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        found.update(document.get("responses") or {})
    return found


def china_today() -> datetime.date:
    """Today where staff review answers: the console dates a review in China's time, so
    an answer reviewed this morning in China is not "in the future" on a UTC host."""
    return datetime.datetime.now(CHINA_TIME).date()


def answer_limit(name: str) -> int | None:
    """The longest text allowed for a knowledge-base response; None for other responses."""
    return next((limit for prefix, limit in ANSWER_LIMITS.items() if name.startswith(prefix)), None)


def answer_problems(
    name: str, answer: dict[str, Any], today: datetime.date, max_chars: int
) -> list[str]:
    """What keeps one variation of a knowledge-base answer from being shown: staff and
    residents rely on its title (the did-you-mean button), its source and its review
    date, and a long answer does not fit a phone screen."""
    problems = []
    text = str(answer.get("text") or "")
    if not text.strip():
        problems.append(f"{name} 的答案是空的")
    elif len(text) > max_chars:
        problems.append(f"{name} 的答案有 {len(text)} 个字，超过 {max_chars} 字")
    metadata = answer.get("metadata") or {}
    if not str(metadata.get("title") or "").strip():
        problems.append(f"{name} 的答案没有标题")
    if not str(metadata.get("source") or "").strip():
        problems.append(f"{name} 的答案没有注明来源")
    problems += _reviewed_problems(name, metadata.get("reviewed"), today)
    return problems


def _reviewed_problems(name: str, reviewed: Any, today: datetime.date) -> list[str]:
    if reviewed is None or not str(reviewed).strip():
        return [f"{name} 的答案没有核对日期"]
    try:
        date = datetime.date.fromisoformat(str(reviewed).strip())
    except ValueError:
        return [f"{name} 的核对日期「{reviewed}」不是有效日期"]
    if date > today:
        return [f"{name} 的核对日期 {date} 在今天之后"]
    return []


def unanswered_labels(
    examples: dict[str, list[str]], responses: dict[str, list[dict[str, Any]]]
) -> list[str]:
    """Retrieval labels (faq/<topic>) with examples but no utter_<label>: the model would
    pick a topic the bot has nothing to say for."""
    return sorted(
        label
        for label in examples
        if label.split("/", 1)[0] in RETRIEVAL_INTENTS
        and "/" in label
        and not responses.get(f"utter_{label}")
    )


def texts_under_several_labels(examples: dict[str, list[str]]) -> dict[str, list[str]]:
    """Example texts given two or more labels: the model is taught both answers at once."""
    owners: dict[str, set[str]] = defaultdict(set)
    for label, texts in examples.items():
        for text in texts:
            owners[plain(text)].add(label)
    return {text: sorted(labels) for text, labels in owners.items() if len(labels) > 1}


def knowledge_base_problems(documents: Documents, today: datetime.date) -> list[str]:
    """Every rule over the merged training data; an empty list means it may be trained."""
    documents = list(documents)
    examples, responses = examples_by_label(documents), responses_of(documents)
    problems = []
    for name, variations in sorted(responses.items()):
        limit = answer_limit(name)
        if limit is not None:
            for answer in variations:
                problems += answer_problems(name, answer, today, limit)
    problems += [f"{label} 有问法但没有答案" for label in unanswered_labels(examples, responses)]
    problems += [
        f"「{text}」同时标成了 {'、'.join(labels)}"
        for text, labels in texts_under_several_labels(examples).items()
    ]
    return problems
