"""The cheaper versions of Rasa's hot spots decide exactly as Rasa's own."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, UserUttered, deserialise_events
from rasa.shared.utils.common import all_subclasses

from rasa_runtime import patches, speedups

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


def test_event_types_resolve_as_in_rasa() -> None:
    patches.apply()
    for event_class in all_subclasses(Event):
        expected = speedups._resolve_by_walking_the_tree(event_class.type_name)
        assert Event.resolve_by_type(event_class.type_name) is expected
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("no_such_event", default=ActionExecuted) is ActionExecuted
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    # Stored conversations load through it.
    stored = [UserUttered("低保咋个办").as_dict(), ActionExecuted("action_listen").as_dict()]
    assert [type(e) for e in deserialise_events(stored)] == [UserUttered, ActionExecuted]


def test_applied_to_rasa() -> None:
    patches.apply()
    assert RemoteAction._validate_action_result is speedups._validate_action_result
    assert Event.resolve_by_type is speedups._resolve_event_type
