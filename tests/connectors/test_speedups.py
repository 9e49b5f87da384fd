"""The cheaper check of action server responses decides exactly as Rasa's own."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from connectors import speedups

RESPONSES: list[Any] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "understanding", "value": "confident"}]},
    {"responses": [{"text": "您好", "buttons": [{"title": "是", "payload": "是"}]}]},
    {"events": [{"name": "understanding"}]},  # an event without its type
    {"events": "slot"},
    {"responses": [{"text": 3}], "events": []},
    [],
]


def rasa_decision(response: Any) -> str:
    try:
        jsonschema.validate(response, RemoteAction.action_response_format_spec())
    except jsonschema.ValidationError as error:
        return error.message
    return "valid"


def our_decision(response: Any) -> str:
    try:
        assert speedups._validate_action_result(RemoteAction("x", None), response)
    except jsonschema.ValidationError as error:
        return error.message.split(". Failed to validate")[0]
    return "valid"


@pytest.mark.parametrize("response", RESPONSES)
def test_same_decision_as_rasa(response: Any) -> None:
    assert our_decision(response) == rasa_decision(response)


def test_some_responses_are_refused() -> None:
    # The cases above must exercise both outcomes to mean anything.
    assert {rasa_decision(r) == "valid" for r in RESPONSES} == {True, False}


def test_applied_to_rasa() -> None:
    speedups.apply()
    assert RemoteAction._validate_action_result is speedups._validate_action_result
