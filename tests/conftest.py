"""Fixtures shared across the suite: the trained model, and a parser that loads it once."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Stack, running_stack
from trainer.evaluation import Parser, label_of

# The tests' parser is the training worker's: one way to load and read a model.
__all__ = ["Parser", "label_of"]

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "bot" / "models"


def newest_model() -> Path:
    models = sorted(MODELS.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise FileNotFoundError(f"no trained model in {MODELS}")
    return models[-1]


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The model trained on bot/data only; `make train` retrains only when data changed."""
    subprocess.run(["make", "--no-print-directory", "train"], cwd=ROOT, check=True)
    return newest_model()


@pytest.fixture(scope="session")
def parser(model_path: Path) -> Parser:
    return Parser(model_path)


@pytest.fixture(scope="session")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole assistant running on loopback, shared by the end-to-end tests."""
    credentials = "connectors.rest.RestInput:\n  authentication: none\n"
    with running_stack(tmp_path_factory.mktemp("stack"), model_path, credentials) as running:
        yield running
