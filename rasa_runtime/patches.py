"""The one place where Rasa functions are replaced, applied by the launcher.

Each replacement was written against the source of Rasa 3.6.21: it must decide exactly
as the original (the speed-ups) or relies on what the code around it does (the action
calls rely on `MessageProcessor._run_action` letting a BaseException through and on
`handle_message` saving the tracker only at the end). So `apply()` refuses to run on
another Rasa version, or when the source of any of these functions is not the one they
were written against: an upgrade must re-read them and update the hashes below.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rasa
import rasa.core.agent as rasa_agent
from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import Event

from rasa_runtime import action_calls, model_pulls, speedups

WRITTEN_FOR = "3.6.21"


class UnexpectedRasa(RuntimeError):
    """The installed Rasa is not the one the replacements were written for."""


@dataclass(frozen=True)
class Replacement:
    owner: Any  # a class or a module
    attribute: str
    replacement: Any
    # Rasa's function, taken before anything is replaced, and the hash of its source.
    original: Any
    original_sha256: str


def _replacing(owner: Any, attribute: str, replacement: Any, sha256: str) -> Replacement:
    return Replacement(owner, attribute, replacement, owner.__dict__[attribute], sha256)


REPLACEMENTS = (
    _replacing(
        RemoteAction,
        "_validate_action_result",
        speedups._validate_action_result,
        "f8cdb4be6812396167ced74161b2ccd65c5ea676ad86d7d359d8c322d9d8dc42",
    ),
    _replacing(
        Event,
        "resolve_by_type",
        staticmethod(speedups._resolve_event_type),
        "b5cf570fa7f286c7059ec73d8880528d03a78b28cf4e80285a46079c0fa65968",
    ),
    _replacing(
        RemoteAction,
        "run",
        action_calls.run_remote_action,
        "ccabf6f1160d527a157fad5bd285ce69e8221b1bcad23f8a61499b4360a1c17e",
    ),
    _replacing(
        rasa_agent,
        "_update_model_from_server",
        model_pulls.update_model_from_server,
        "677a9cee565c4c588bbf325f85936bf0ddef53b63cf899abd31a7d1c8c92e888",
    ),
)

# Not replaced, but the replacements depend on how they behave.
RELIED_ON: dict[Callable[..., Any], str] = {
    MessageProcessor._run_action: "6d383d0179ef1187639887289168959a5a82f94e6949e4e27bb83b2165094995",
    MessageProcessor.handle_message: "0c41d4780d2d46769ef2ae2b3f450b88d2602e916590e8be9975aa474db9f7f4",
}


def source_sha256(function: Any) -> str:
    if isinstance(function, staticmethod):
        function = function.__func__
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def check(
    version: str = rasa.__version__,
    replacements: tuple[Replacement, ...] = REPLACEMENTS,
    relied_on: dict[Callable[..., Any], str] = RELIED_ON,
) -> None:
    """Raises UnexpectedRasa unless Rasa and every original are the ones known."""
    if version != WRITTEN_FOR:
        raise UnexpectedRasa(f"written for Rasa {WRITTEN_FOR}, found {version}")
    expected = {r.original: r.original_sha256 for r in replacements} | relied_on
    for function, sha256 in expected.items():
        if source_sha256(function) != sha256:
            name = getattr(function, "__qualname__", repr(function))
            raise UnexpectedRasa(f"{name} is not the one of Rasa {WRITTEN_FOR}")


def apply() -> None:
    """Checks, then replaces Rasa's functions in this process; idempotent."""
    check()
    for replacement in REPLACEMENTS:
        setattr(replacement.owner, replacement.attribute, replacement.replacement)
