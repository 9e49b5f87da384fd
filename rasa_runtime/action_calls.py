"""Calls to the action server that never leave a resident without an answer.

Rasa 3.6 waits up to five minutes for the action server, and when a call fails it logs
the error and carries on with the action's events lost: a resident mid-form got no
reply at all, and an FAQ question got the fallback "没太听明白", as if they were at
fault. Here a call that cannot connect, or takes longer than
`ACTION_SERVER_TIMEOUT_SECONDS`, ends the turn instead: the resident gets the domain's
`utter_system_busy` on their channel, and the turn is abandoned before Rasa saves it,
so their message is not taken in and the conversation is exactly as it was: the same
message sent again once the action server is back continues the form where it was.

Only turns run by the engine are abandoned (`abandonable_turn`); elsewhere (the HTTP
API) Rasa's own behaviour stays.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import aiohttp
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import OutputChannel
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException

from rasa_runtime.settings import ACTION_SERVER_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

BUSY_RESPONSE = "utter_system_busy"
# What an action server answers when an action rejects its execution.
REJECTED = 400

abandonable_turn: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "abandonable_turn", default=False
)


class ActionServerUnavailable(BaseException):
    """Ends the turn unsaved; the resident has been told.

    A BaseException on purpose: Rasa's processor catches every Exception an action
    raises and continues the turn without its events (`MessageProcessor._run_action`,
    pinned in `rasa_runtime.patches`), which is the behaviour this replaces.
    """


_run_by_rasa = RemoteAction.run


async def run_remote_action(
    self: RemoteAction,
    output_channel: OutputChannel,
    nlg: NaturalLanguageGenerator,
    tracker: DialogueStateTracker,
    domain: Domain,
) -> list[Event]:
    """Rasa's `RemoteAction.run`, bounded in time, abandoning the turn when the action
    server cannot be reached."""
    try:
        return await asyncio.wait_for(
            _run_by_rasa(self, output_channel, nlg, tracker, domain),
            ACTION_SERVER_TIMEOUT_SECONDS,
        )
    except (RasaException, asyncio.TimeoutError) as error:
        if not (abandonable_turn.get() and _unreachable(error)):
            raise
        logger.warning("Action server unavailable for %s: turn not taken in", self.name())
        await _tell_resident(output_channel, nlg, tracker)
        raise ActionServerUnavailable(self.name()) from error


def _unreachable(error: BaseException) -> bool:
    """The action server could not do the action: not reached, too slow, refusing this
    server (a wrong token) or failing. Only 400 is an answer: an action rejecting its
    execution (a form handing the message back), which Rasa handles itself."""
    if isinstance(error, asyncio.TimeoutError):
        return True
    # Rasa raises its own exception inside the handler of the HTTP client's.
    cause = error.__cause__ or error.__context__
    status = getattr(cause, "status", None)
    if isinstance(status, int):
        return status != REJECTED
    return isinstance(cause, aiohttp.ClientConnectionError)


async def _tell_resident(
    output_channel: OutputChannel, nlg: NaturalLanguageGenerator, tracker: DialogueStateTracker
) -> None:
    message: dict[str, Any] | None = await nlg.generate(
        BUSY_RESPONSE, tracker, output_channel.name()
    )
    if message is None:
        logger.error("The model's domain has no %s: retrain the model", BUSY_RESPONSE)
        return
    await output_channel.send_response(tracker.sender_id, message)
