"""Rasa's functions are replaced in one place, only on the Rasa they were written for."""

from __future__ import annotations

import dataclasses

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import Event

from rasa_runtime import action_calls, patches, speedups
from rasa_runtime.patches import REPLACEMENTS, UnexpectedRasa

# Written out by hand from Rasa 3.6.21's sources: the originals the replacements were
# written against, and those they rely on. A Rasa upgrade fails here first.
PINNED = {
    "RemoteAction._validate_action_result": "f8cdb4be6812396167ced74161b2ccd65c5ea676ad86d7d359d8c322d9d8dc42",
    "Event.resolve_by_type": "b5cf570fa7f286c7059ec73d8880528d03a78b28cf4e80285a46079c0fa65968",
    "RemoteAction.run": "ccabf6f1160d527a157fad5bd285ce69e8221b1bcad23f8a61499b4360a1c17e",
    "rasa.core.agent._update_model_from_server": (
        "677a9cee565c4c588bbf325f85936bf0ddef53b63cf899abd31a7d1c8c92e888"
    ),
    "MessageProcessor._run_action": "6d383d0179ef1187639887289168959a5a82f94e6949e4e27bb83b2165094995",
    "MessageProcessor.handle_message": "0c41d4780d2d46769ef2ae2b3f450b88d2602e916590e8be9975aa474db9f7f4",
}


def test_the_originals_are_rasa_3_6_21s() -> None:
    originals = {
        f"{r.owner.__name__}.{r.attribute}": patches.source_sha256(r.original) for r in REPLACEMENTS
    }
    relied_on = {
        f"MessageProcessor.{name}": patches.source_sha256(getattr(MessageProcessor, name))
        for name in ("_run_action", "handle_message")
    }
    assert originals | relied_on == PINNED
    # The replacements that call the original call this one.
    assert action_calls._run_by_rasa is REPLACEMENTS[2].original
    assert speedups._resolve_by_walking_the_tree is REPLACEMENTS[1].original.__func__


def test_another_rasa_version_is_refused() -> None:
    with pytest.raises(UnexpectedRasa, match=r"3\.6\.22"):
        patches.check(version="3.6.22")
    patches.check()  # the installed one passes


def test_a_changed_original_is_refused() -> None:
    async def changed_run(*_: object) -> list:
        return []

    changed = dataclasses.replace(REPLACEMENTS[2], original=changed_run)
    with pytest.raises(UnexpectedRasa, match="changed_run"):
        patches.check(replacements=(*REPLACEMENTS[:2], changed))

    async def changed_processor(*_: object) -> None:
        return None

    with pytest.raises(UnexpectedRasa):
        patches.check(
            relied_on={changed_processor: patches.RELIED_ON[MessageProcessor._run_action]}
        )


def test_apply_puts_every_replacement_in_place_once() -> None:
    patches.apply()
    patches.apply()
    assert RemoteAction._validate_action_result is speedups._validate_action_result
    assert Event.resolve_by_type is speedups._resolve_event_type
    assert RemoteAction.run is action_calls.run_remote_action
