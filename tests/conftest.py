"""Fixtures shared across the suite: the trained model, and a parser that loads it once."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Stack, running_stack

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


def label_of(parse: dict[str, Any]) -> str:
    intent = parse["intent"]["name"]
    if intent == "faq":
        return parse["response_selector"]["faq"]["response"]["intent_response_key"]
    return intent


@pytest.fixture(scope="session")
def parser(model_path: Path) -> Parser:
    return Parser(model_path)


@pytest.fixture(scope="session")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole assistant running on loopback, shared by the end-to-end tests."""
    credentials = "connectors.rest.RestInput:\n  authentication: none\n"
    with running_stack(tmp_path_factory.mktemp("stack"), model_path, credentials) as running:
        yield running
