"""`rasa data validate` over the training data, domain and rules."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.trainingdata import ROOT

ACTIONS = ROOT / "bot" / "actions"

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
    # The status form asks these instead when the resident has no tracking number
    # (ValidateStatusForm.required_slots in bot/actions/status.py).
    slots |= {"lookup_id_number", "lookup_phone"}
    return {f"The utterance 'utter_ask_{slot}' is not used in any story or rule." for slot in slots}


def responses_named_by_actions() -> set[str]:
    """Responses the action server utters by name; the validator sees only rules.

    A name is a literal `"utter_…"` in bot/actions (or in the channels' guard, which
    answers before the dialogue), or a domain response that begins with the fixed part
    of an f-string name there (`f"utter_invalid_{slot}_{reason}"`).
    """
    named_in = [*ACTIONS.glob("*.py"), ROOT / "connectors" / "guard.py"]
    source = "\n".join(path.read_text(encoding="utf-8") for path in named_in)
    literal = set(re.findall(r'"(utter_[a-z0-9_]+)"', source))
    prefixes = set(re.findall(r'f"(utter_[a-z0-9_]*)\{', source))
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    return literal | {name for name in responses if name.startswith(tuple(prefixes))}


def test_every_response_an_action_names_exists():
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    source = "\n".join(path.read_text(encoding="utf-8") for path in ACTIONS.glob("*.py"))
    literal = set(re.findall(r'"(utter_[a-z0-9_]+)"', source))
    assert literal <= set(responses), literal - set(responses)


def test_data_validates_without_warnings():
    result = subprocess.run(
        [ROOT / ".venv/bin/rasa", "data", "validate", "--data", "bot/data"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
    )
    output = result.stdout + result.stderr
    expected = form_prompts() | {
        f"The utterance '{name}' is not used in any story or rule."
        for name in responses_named_by_actions()
    }
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
