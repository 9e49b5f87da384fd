"""The accuracy gates: the model trained on bot/data, scored on questions it never saw.

Two held-out files: `heldout.yml` (the first set) and `heldout_residents.yml`, written
by authors who never saw the training data, playing residents of different ages, half
in Sichuanese. Both are scored on the contract's label (intent, or faq/<topic>), and
FAQ and out-of-scope questions also through the bot's own decision — what the
resident receives: a direct answer, a did-you-mean, or another route.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from bot.actions.faq import CONFIDENT, understanding
from tests.conftest import ROOT, Parser, label_of
from tests.trainingdata import examples_by_label, plain

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
RESIDENTS = ROOT / "tests" / "nlu" / "heldout_residents.yml"
REPORT = ROOT / "results" / "heldout_report.txt"
MIN_ACCURACY = {HELDOUT: 0.90, RESIDENTS: 0.93}
# The decision's thresholds were tuned on heldout.yml (88 % → 92 % answered directly);
# the residents' questions are the unseen measure the gate of 0.95 applies to.
MIN_FAQ_ANSWERED_RIGHT = {HELDOUT: 0.90, RESIDENTS: 0.95}
MAX_FAQ_ANSWERED_WRONG = 0.01


def decision(parse: dict[str, Any]) -> tuple[str, str | None]:
    """What the bot does with the message, as the rules and action_triage decide."""
    intent = parse["intent"]["name"]
    if intent in ("faq", "nlu_fallback"):
        if understanding(parse) == CONFIDENT:
            # utter_faq gives the selector's topic, also when the intent was nlu_fallback.
            return "answered", parse["response_selector"]["faq"]["response"]["intent_response_key"]
        return "clarified", None
    return "routed", intent


class Scores:
    def __init__(self) -> None:
        self.labels: dict[str, Counter] = defaultdict(Counter)
        self.confusions: Counter = Counter()
        self.decisions: dict[str, Counter] = defaultdict(Counter)

    def add(self, label: str, parse: dict[str, Any]) -> None:
        predicted = label_of(parse)
        self.labels[label]["total"] += 1
        self.labels[label]["right"] += predicted == label
        if predicted != label:
            self.confusions[(label, predicted)] += 1
        kind = "faq" if label.startswith("faq/") else label
        what, answer = decision(parse)
        if what == "answered":
            what = "answered right" if answer == label else "answered wrong"
        self.decisions[kind][what] += 1

    def accuracy(self) -> float:
        right = sum(c["right"] for c in self.labels.values())
        return right / sum(c["total"] for c in self.labels.values())

    def share(self, kind: str, what: str) -> float:
        counts = self.decisions[kind]
        return counts[what] / max(1, sum(counts.values()))

    def report(self, name: str) -> str:
        lines = [f"== {name}: label accuracy {self.accuracy():.3f}"]
        for kind in ("faq", "out_of_scope"):
            counts = self.decisions[kind]
            total = sum(counts.values())
            parts = ", ".join(f"{what} {n} ({n / total:.1%})" for what, n in sorted(counts.items()))
            lines.append(f"{kind} questions through the bot's decision ({total}): {parts}")
        lines.append(f"{'label':40} {'right':>5} {'total':>5} {'acc':>6}")
        for label in sorted(self.labels):
            right, total = self.labels[label]["right"], self.labels[label]["total"]
            lines.append(f"{label:40} {right:5d} {total:5d} {right / total:6.2f}")
        lines.append("most frequent confusions (expected -> predicted):")
        lines += [f"  {n} x {want} -> {got}" for (want, got), n in self.confusions.most_common(25)]
        return "\n".join(lines)


@pytest.fixture(scope="module")
def scores(parser: Parser) -> dict[Path, Scores]:
    results = {}
    for path in (HELDOUT, RESIDENTS):
        results[path] = Scores()
        for label, examples in examples_by_label([path]).items():
            for example in examples:
                results[path].add(label, parser.parse(plain(example)))
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        "\n\n".join(s.report(p.name) for p, s in results.items()) + "\n", encoding="utf-8"
    )
    return results


@pytest.mark.parametrize("path", [HELDOUT, RESIDENTS], ids=lambda p: p.name)
def test_heldout_intent_and_topic_accuracy(scores: dict[Path, Scores], path: Path):
    print(f"\n{scores[path].report(path.name)}")
    assert scores[path].accuracy() >= MIN_ACCURACY[path]


@pytest.mark.parametrize("path", [HELDOUT, RESIDENTS], ids=lambda p: p.name)
def test_faq_questions_are_answered_directly_and_rarely_wrongly(
    scores: dict[Path, Scores], path: Path
):
    assert scores[path].share("faq", "answered wrong") <= MAX_FAQ_ANSWERED_WRONG
    assert scores[path].share("faq", "answered right") >= MIN_FAQ_ANSWERED_RIGHT[path]


@pytest.mark.parametrize("path", [HELDOUT, RESIDENTS], ids=lambda p: p.name)
def test_no_out_of_scope_question_gets_a_knowledge_base_answer(
    scores: dict[Path, Scores], path: Path
):
    decisions = scores[path].decisions["out_of_scope"]
    assert decisions["answered wrong"] == 0
