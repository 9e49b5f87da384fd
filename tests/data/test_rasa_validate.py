"""`rasa data validate` over the training data, domain and rules."""

from __future__ import annotations

import re
import subprocess

from tests.trainingdata import ROOT

# Rasa 3.6 emits these while loading any domain, whatever it holds: the first for every
# domain with slots (slot_mappings.validate_slot_mappings warns unconditionally), the
# second for every retrieval intent listed in the domain (ResponsesSyncImporter merges
# it in again; leaving it out instead warns that the rules use an unknown intent).
RASA_LOADER_NOTICES = (
    "Slot auto-fill has been removed in 3.0",
    "The following duplicated intents have been found across multiple domain files: faq",
)
WARNING = re.compile(r"(UserWarning|WARNING)[: ]+(.*)")


def test_data_validates_without_warnings():
    result = subprocess.run(
        [
            str(ROOT / ".venv/bin/rasa"),
            "data",
            "validate",
            "--data",
            "bot/data",
            "--fail-on-warnings",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
    )
    output = result.stdout + result.stderr
    warnings = [
        match.group(2)
        for match in WARNING.finditer(output)
        if "Deprecat" not in match.group(0)
        and not any(match.group(2).startswith(notice) for notice in RASA_LOADER_NOTICES)
    ]
    assert result.returncode == 0, output[-3000:]
    assert not warnings, warnings
