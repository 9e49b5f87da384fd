"""The accuracy gates: the model trained on bot/data, scored on questions it never saw.

Two held-out files: `heldout.yml` (the first set) and `heldout_residents.yml`, written
by authors who never saw the training data, playing residents of different ages, half
in Sichuanese. Both are scored on the contract's label (intent, or faq/<topic>), and
FAQ and out-of-scope questions also through the bot's own decision — what the
resident receives: a direct answer, a did-you-mean, or another route.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.trainingdata import examples_by_label, plain
from trainer.evaluation import Parser, Scores

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
RESIDENTS = ROOT / "tests" / "nlu" / "heldout_residents.yml"
REPORT = ROOT / "results" / "heldout_report.txt"
MIN_ACCURACY = {HELDOUT: 0.90, RESIDENTS: 0.93}
# The decision's thresholds were tuned on heldout.yml (88 % → 92 % answered directly);
# the residents' questions are the unseen measure the gate of 0.95 applies to.
MIN_FAQ_ANSWERED_RIGHT = {HELDOUT: 0.90, RESIDENTS: 0.95}
MAX_FAQ_ANSWERED_WRONG = 0.01


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
