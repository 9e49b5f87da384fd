"""The accuracy gate: the model trained on bot/data, scored on questions it never saw."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from tests.conftest import ROOT, Parser
from tests.trainingdata import examples_by_label, plain

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
REPORT = ROOT / "results" / "heldout_report.txt"
MIN_ACCURACY = 0.90


def write_report(per_label: dict[str, Counter], confusions: Counter, path: Path) -> str:
    lines = [f"{'label':40} {'right':>5} {'total':>5} {'acc':>6}"]
    for label in sorted(per_label):
        right, total = per_label[label]["right"], per_label[label]["total"]
        lines.append(f"{label:40} {right:5d} {total:5d} {right / total:6.2f}")
    lines.append("")
    lines.append("most frequent confusions (expected -> predicted):")
    lines += [f"  {n} x {want} -> {got}" for (want, got), n in confusions.most_common(25)]
    text = "\n".join(lines)
    path.parent.mkdir(exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return text


def test_heldout_intent_and_topic_accuracy(parser: Parser):
    per_label: dict[str, Counter] = defaultdict(Counter)
    confusions: Counter = Counter()
    for label, examples in examples_by_label([HELDOUT]).items():
        for example in examples:
            predicted = parser.label(plain(example))
            per_label[label]["total"] += 1
            if predicted == label:
                per_label[label]["right"] += 1
            else:
                confusions[(label, predicted)] += 1

    right = sum(c["right"] for c in per_label.values())
    total = sum(c["total"] for c in per_label.values())
    report = write_report(per_label, confusions, REPORT)
    print(f"\nheld-out accuracy {right / total:.3f} ({right}/{total})\n{report}")
    assert right / total >= MIN_ACCURACY
