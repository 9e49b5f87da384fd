"""`rasa data validate` over the training data, domain and rules."""

from __future__ import annotations

import re
import subprocess

import yaml

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


def form_prompts() -> set[str]:
    """The validator cannot see that a form utters `utter_ask_<slot>` for its slots."""
    forms = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["forms"]
    slots = {slot for form in forms.values() for slot in form["required_slots"]}
    return {f"The utterance 'utter_ask_{slot}' is not used in any story or rule." for slot in slots}


def test_data_validates_without_warnings():
    result = subprocess.run(
        [ROOT / ".venv/bin/rasa", "data", "validate", "--data", "bot/data"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
    )
    output = result.stdout + result.stderr
    expected = form_prompts()
    warnings = [
        match.group(2).strip()
        for match in WARNING.finditer(output)
        if "Deprecat" not in match.group(0)
        and not match.group(2).startswith(RASA_LOADER_NOTICES)
        and match.group(2).strip() not in expected
    ]
    assert result.returncode == 0, output[-3000:]
    assert "No story structure conflicts found" in output
    assert not warnings, warnings
