"""The console's training data: what staff reviewed, checked against the repository's
data, and frozen into the file a training run merges with `bot/data`.

Design (README, "Learning loop"): examples and answers stay in the store and are merged
at training time. Examples are the questions of inbox groups staff assigned to a label
(or drafted a new topic for, once an admin approved it) and the did-you-mean choices
residents confirmed; answers are those written in the console. Before a run is queued,
each example is checked against the repository's examples and the held-out questions:
one the model already has (duplicate), has under another label (contradiction) or will
be tested on (held-out) is left out and shown to the admin with its reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from personaldata.masks import mask_personal_data

ASK_HUMAN = "ask_human"  # a handoff settled, not a reading of the question
HANDOFF_REASON = "handoff"  # a request for a person in a group is not the group's topic
INBOX, DID_YOU_MEAN = "inbox", "did_you_mean"
DUPLICATE, CONTRADICTION, HELDOUT, UNKNOWN_LABEL, WAITING = (
    "duplicate",
    "contradiction",
    "heldout",
    "unknown_label",
    "waiting",
)
FLAG_TEXT = {
    DUPLICATE: "训练数据里已有同样的句子",
    CONTRADICTION: "同样的句子在别的标签下",
    HELDOUT: "这句在测试题里，不能拿来训练",
    UNKNOWN_LABEL: "标签已不存在",
    WAITING: "新问答还没批准",
}
HELDOUT_GLOB = "tests/nlu/heldout*.yml"
INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs"})
# [text](entity) or [text]{...}: the repository's annotation markup.
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def normalized(text: str) -> str:
    """The form two sentences are compared in: width, case, spaces and punctuation aside."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c)[0] not in "PS")


def training_text(text: str) -> str:
    """A resident's words as a training example: no invisible characters (zero-width,
    bidi, control: they hide what a reviewer reads and split numbers the masking must
    see), personal numbers masked, one line, no brackets Rasa would read as markup."""
    text = "".join(c for c in text if unicodedata.category(c) not in INVISIBLE)
    text = " ".join(mask_personal_data(text).split())
    return text.translate(str.maketrans("[](){}", "【】（）｛｝"))


@dataclass(frozen=True)
class RepositoryData:
    """The repository's labelled examples and held-out questions, by normalized text,
    and its responses (an edited answer keeps the repository answer's buttons)."""

    labels_of: dict[str, set[str]]
    heldout: frozenset[str]
    responses: dict[str, list[dict[str, Any]]]

    @classmethod
    def read(cls, root: Path) -> RepositoryData:
        labels_of: dict[str, set[str]] = defaultdict(set)
        responses: dict[str, list[dict[str, Any]]] = {}
        for path in sorted((root / "bot" / "data").rglob("*.yml")):
            document = _load(path)
            for label, text in _examples(document):
                labels_of[normalized(text)].add(label)
            responses.update(document.get("responses") or {})
        heldout = frozenset(
            normalized(text)
            for path in sorted(root.glob(HELDOUT_GLOB))
            for _, text in _examples(_load(path))
        )
        return cls(dict(labels_of), heldout, responses)

    def knows(self, label: str) -> bool:
        return any(label in labels for labels in self.labels_of.values())


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _examples(document: dict[str, Any]) -> Iterable[tuple[str, str]]:
    for block in document.get("nlu") or []:
        if "intent" in block:
            for line in str(block.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    yield block["intent"], ANNOTATION.sub(r"\1", line.strip()[2:])


@dataclass(frozen=True)
class Example:
    item_id: int
    text: str
    label: str
    origin: str


@dataclass(frozen=True)
class Answer:
    topic: str
    title: str
    text: str
    source: str
    reviewed: str
    new_label: bool
    approved: bool


@dataclass
class Snapshot:
    """What the next run would train on, and what was left out and why."""

    examples: list[Example] = field(default_factory=list)
    flagged: list[tuple[Example, str]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    @property
    def waiting_answers(self) -> list[Answer]:
        return [answer for answer in self.answers if not answer.approved]

    @property
    def approved_answers(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.approved]

    def per_label(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = defaultdict(int)
        for example in self.examples:
            counts[example.label] += 1
        return sorted(counts.items())

    def contents(self) -> dict[str, Any]:
        """What a model trained on this holds, to reconcile it with git later."""
        return {
            "examples": [
                {
                    "item": e.item_id,
                    "label": e.label,
                    "origin": e.origin,
                    "text_sha256": _sha(e.text),
                }
                for e in self.examples
            ],
            "answers": [
                {"topic": a.topic, "new_label": a.new_label, "text_sha256": _sha(a.text)}
                for a in self.approved_answers
            ],
        }

    def console_data(self, repository: RepositoryData) -> str:
        """The training data file the worker merges with `bot/data` (Rasa's format)."""
        by_label: dict[str, list[str]] = defaultdict(list)
        for example in self.examples:
            by_label[example.label].append(example.text)
        nlu = [
            {"intent": label, "examples": _Literal("".join(f"- {t}\n" for t in texts))}
            for label, texts in sorted(by_label.items())
        ]
        responses = {
            f"utter_{answer.topic}": [_response(answer, repository.responses)]
            for answer in self.approved_answers
        }
        document: dict[str, Any] = {"version": "3.1", "nlu": nlu}
        if responses:
            document["responses"] = responses
        return yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _response(answer: Answer, existing: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    response: dict[str, Any] = {"text": answer.text}
    earlier = (existing.get(f"utter_{answer.topic}") or [{}])[0]
    if earlier.get("buttons"):
        response["buttons"] = earlier["buttons"]
    response["metadata"] = {
        "title": answer.title,
        "source": answer.source,
        "reviewed": answer.reviewed,
    }
    return response


class _Literal(str):
    """An examples block, written as YAML's literal block like the repository's files."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Literal, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
)


def check(candidates: list[Example], answers: list[Answer], repository: RepositoryData) -> Snapshot:
    """Sort the console's examples into those to train on and those flagged."""
    approved_new = {a.topic for a in answers if a.new_label and a.approved}
    waiting_new = {a.topic for a in answers if a.new_label and not a.approved}
    console_labels: dict[str, set[str]] = defaultdict(set)
    for example in candidates:
        console_labels[normalized(example.text)].add(example.label)
    snapshot = Snapshot(answers=answers)
    seen: set[tuple[str, str]] = set()
    for example in candidates:
        flag = _flag(example, repository, console_labels, approved_new, waiting_new)
        key = (normalized(example.text), example.label)
        if flag is None and key in seen:
            flag = DUPLICATE
        seen.add(key)
        if flag is None:
            snapshot.examples.append(example)
        else:
            snapshot.flagged.append((example, flag))
    return snapshot


def _flag(
    example: Example,
    repository: RepositoryData,
    console_labels: dict[str, set[str]],
    approved_new: set[str],
    waiting_new: set[str],
) -> str | None:
    key = normalized(example.text)
    if not key:
        return DUPLICATE
    if key in repository.heldout:
        return HELDOUT
    if example.label in waiting_new:
        return WAITING
    if not repository.knows(example.label) and example.label not in approved_new:
        return UNKNOWN_LABEL
    known = repository.labels_of.get(key, set())
    if known - {example.label} or console_labels[key] - {example.label}:
        return CONTRADICTION
    if example.label in known:
        return DUPLICATE
    return None


def digest(text: str) -> str:
    return _sha(text)


def contents_json(snapshot: Snapshot) -> str:
    return json.dumps(snapshot.contents(), ensure_ascii=False)
