"""Scoring a model on the held-out questions: label accuracy, and what the bot would
really do with each FAQ and out-of-scope question (answer, did-you-mean, or route).

One source for the accuracy gates of tests/nlu and for the training worker, which scores
a candidate and the live model in the same run so the store can compare them (the
contract's Evaluation). Models are loaded one at a time and freed after: each holds
hundreds of megabytes on a machine that also serves residents.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.actions.faq import CONFIDENT, understanding
from trainer.checks import examples_by_label, load, plain

# Kinds of question whose decisions the Evaluation reports (as the accuracy report does).
DECISION_KINDS = ("faq", "out_of_scope")
Progress = Callable[[int, int], None]


class Parser:
    """Parses text with the trained model, as the Rasa server's NLU does."""

    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent
        from rasa.utils.log_utils import configure_structlog

        # Without this, every parse is logged at debug level with the raw text.
        configure_structlog(logging.WARNING)
        self._loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(model))

    def parse(self, text: str, with_tokens: bool = False) -> dict[str, Any]:
        from rasa.core.channels.channel import UserMessage

        coroutine = self.agent.processor.parse_message(
            UserMessage(text), only_output_properties=not with_tokens
        )
        return self._loop.run_until_complete(coroutine)

    def label(self, text: str) -> str:
        """The contract's label: the intent, or `faq/<topic>` for the retrieval intent."""
        return label_of(self.parse(text))

    @property
    def model_id(self) -> str:
        """The id Rasa wrote into the model's metadata when it was trained."""
        return str(self.agent.processor.model_metadata.model_id)

    def close(self) -> None:
        """Lets the model's memory go before another model is loaded."""
        import tensorflow as tf

        self._loop.close()
        del self.agent
        gc.collect()
        tf.keras.backend.clear_session()


@contextmanager
def loaded(model: Path) -> Iterator[Parser]:
    parser = Parser(model)
    try:
        yield parser
    finally:
        parser.close()


def label_of(parse: dict[str, Any]) -> str:
    intent = parse["intent"]["name"]
    if intent == "faq":
        return parse["response_selector"]["faq"]["response"]["intent_response_key"]
    return intent


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

    def examples(self) -> int:
        return sum(c["total"] for c in self.labels.values())

    def accuracy(self) -> float:
        right = sum(c["right"] for c in self.labels.values())
        return right / self.examples()

    def share(self, kind: str, what: str) -> float:
        counts = self.decisions[kind]
        return counts[what] / max(1, sum(counts.values()))

    def report(self, name: str) -> str:
        lines = [f"== {name}: label accuracy {self.accuracy():.3f}"]
        for kind in DECISION_KINDS:
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

    def evaluation(self, heldout_digest: str, model_id: str) -> dict[str, Any]:
        """The contract's Evaluation of one model."""
        return {
            "heldout_digest": heldout_digest,
            "examples": self.examples(),
            "accuracy": round(self.accuracy(), 4),
            "labels": {
                label: {"right": counts["right"], "total": counts["total"]}
                for label, counts in sorted(self.labels.items())
            },
            "decisions": {
                kind: dict(sorted(self.decisions[kind].items())) for kind in DECISION_KINDS
            },
            "confusions": [[want, got, n] for (want, got), n in self.confusions.most_common()],
            "model_id": model_id,
        }


def heldout_examples(files: Sequence[Path]) -> list[tuple[str, str]]:
    """(label, plain text) of every held-out question, in file order."""
    return [
        (label, plain(example))
        for label, examples in examples_by_label(load(path) for path in files).items()
        for example in examples
    ]


def heldout_digest(files: Sequence[Path]) -> str:
    """Two evaluations compare only if scored on the same questions: the files' digest."""
    digest = hashlib.sha256()
    for path in files:
        content = path.read_bytes()
        digest.update(f"{path.name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def score(
    parser: Parser, examples: Sequence[tuple[str, str]], progress: Progress | None = None
) -> Scores:
    scores = Scores()
    for done, (label, text) in enumerate(examples, start=1):
        scores.add(label, parser.parse(text))
        if progress is not None:
            progress(done, len(examples))
    return scores


def evaluate(
    model: Path, files: Sequence[Path], progress: Progress | None = None
) -> dict[str, Any]:
    """Loads the model, scores it on the held-out files together, and frees it."""
    examples = heldout_examples(files)
    with loaded(model) as parser:
        scores = score(parser, examples, progress)
        return scores.evaluation(heldout_digest(files), parser.model_id)
