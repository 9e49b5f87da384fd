"""Conversation tests: the trained dialogue model must predict every action of the stories."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import ROOT


def test_conversation_stories_are_predicted_exactly(model_path: Path, tmp_path: Path):
    result = subprocess.run(
        [ROOT / ".venv/bin/rasa", "test", "core", "--model", str(model_path)]
        + ["--stories", "tests/stories", "--fail-on-prediction-errors", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    failed = tmp_path / "failed_test_stories.yml"
    report = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, (report or result.stdout + result.stderr)[-4000:]
    assert "story:" not in report
