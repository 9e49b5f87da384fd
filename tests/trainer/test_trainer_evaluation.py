"""The contract's Evaluation of the real trained model, as the worker computes it for a
candidate and the live model (loaded one after the other in one process)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from trainer.evaluation import evaluate, heldout_digest, heldout_examples

HELDOUT_FILES = (
    ROOT / "tests" / "nlu" / "heldout.yml",
    ROOT / "tests" / "nlu" / "heldout_residents.yml",
)


@pytest.fixture(scope="module")
def evaluations(model_path: Path) -> list[dict[str, Any]]:
    """The same model scored twice, loaded and freed each time as the worker does."""
    return [evaluate(model_path, HELDOUT_FILES) for _ in range(2)]


def metadata_model_id(model: Path) -> str:
    with tarfile.open(model) as archive:
        member = next(m for m in archive.getmembers() if m.name.lstrip("/") == "metadata.json")
        return json.load(archive.extractfile(member))["model_id"]


def test_the_evaluation_has_the_contracts_fields(evaluations, model_path: Path):
    evaluation = evaluations[0]
    assert set(evaluation) == {
        "heldout_digest",
        "examples",
        "accuracy",
        "labels",
        "decisions",
        "confusions",
        "model_id",
    }
    assert evaluation["heldout_digest"] == heldout_digest(HELDOUT_FILES)
    assert evaluation["model_id"] == metadata_model_id(model_path)
    json.dumps(evaluation)  # what is posted to the store


def test_every_held_out_question_is_counted_once(evaluations):
    evaluation = evaluations[0]
    examples = heldout_examples(HELDOUT_FILES)
    assert evaluation["examples"] == len(examples) > 800
    labels = evaluation["labels"]
    assert set(labels) == {label for label, _ in examples}
    assert sum(score["total"] for score in labels.values()) == len(examples)
    right = sum(score["right"] for score in labels.values())
    assert evaluation["accuracy"] == round(right / len(examples), 4)
    assert sum(n for _, _, n in evaluation["confusions"]) == len(examples) - right


def test_decisions_are_the_bots_for_faq_and_out_of_scope_questions(evaluations):
    evaluation = evaluations[0]
    faq_questions = sum(
        s["total"] for label, s in evaluation["labels"].items() if label.startswith("faq/")
    )
    assert set(evaluation["decisions"]) == {"faq", "out_of_scope"}
    assert sum(evaluation["decisions"]["faq"].values()) == faq_questions
    assert (
        sum(evaluation["decisions"]["out_of_scope"].values())
        == evaluation["labels"]["out_of_scope"]["total"]
    )
    assert set(evaluation["decisions"]["faq"]) <= {
        "answered right",
        "answered wrong",
        "clarified",
        "routed",
    }
    # The model the accuracy gates of tests/nlu pass: well above chance.
    assert evaluation["accuracy"] > 0.9
    assert evaluation["decisions"]["out_of_scope"].get("answered wrong", 0) == 0


def test_a_model_loaded_again_after_another_scores_the_same(evaluations):
    """What the gate compares is the same. Which wrong label a near-tie goes to (the
    confusions) moved once in a full run, with every score equal: it is not compared."""
    first, again = ({k: v for k, v in e.items() if k != "confusions"} for e in evaluations)
    assert first == again
    assert sum(n for *_, n in evaluations[0]["confusions"]) == sum(
        n for *_, n in evaluations[1]["confusions"]
    )
