"""Fixtures of the capture tests: the tracker key, and a real store on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet

from rasa_runtime import trackers
from tests.rasa_runtime.capture_store import TOKEN
from tests.servers import StoreProcess, start_store


@pytest.fixture
def cipher(monkeypatch: pytest.MonkeyPatch) -> MultiFernet:
    """The tracker key, set for the process as the Rasa server has it."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("RASA_TRACKER_KEY", key)
    monkeypatch.setattr(trackers, "_cipher", None)
    return MultiFernet([Fernet(key)])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreProcess]:
    folder = tmp_path / "store"
    folder.mkdir()
    store = start_store(folder, STORE_SERVICE_TOKEN=TOKEN)
    try:
        yield store
    finally:
        store.stop()
