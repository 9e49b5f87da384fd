"""Two hot spots of Rasa 3.6's server made cheap, with the same outcomes.

Found with py-spy on the loaded server:
- every response of the action server is checked with `jsonschema.validate`, which
  first validates Rasa's (constant) response schema against the JSON Schema
  meta-schema, on every call: almost half of the CPU a turn cost. Here the validator is
  built and its schema checked once; responses are checked exactly as before and a bad
  one raises the same `ValidationError`;
- loading a conversation finds each stored event's class by walking the whole `Event`
  class tree again (`Event.resolve_by_type`): a fifth of a late turn in a long
  conversation. Here each type name is resolved once per process.

They are put in place by `rasa_runtime.patches.apply()`.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event


@functools.cache
def _response_validator() -> Validator:
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(_: RemoteAction, result: dict[str, Any]) -> bool:
    error = best_match(_response_validator().iter_errors(result))
    if error is None:
        return True
    # Rasa's own wording, so its logs stay familiar.
    error.message += (
        ". Failed to validate Action server response from API, make sure your response "
        f"from the Action endpoint is valid. For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


_resolve_by_walking_the_tree = Event.resolve_by_type
_event_classes: dict[str, type[Event]] = {}


def _resolve_event_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    event_class = _event_classes.get(type_name)
    if event_class is None:
        event_class = _resolve_by_walking_the_tree(type_name, default)
        # Misses are not kept: an event class imported later must still be found.
        if event_class is not None and event_class is not default:
            _event_classes[type_name] = event_class
    return event_class
