"""「转人工」: the conversation joins the staff queue in the status store, and the resident
is told where they stand.

A form stopped after three unusable answers (`utter_too_many_tries` just said) is queued
too, with the reason `form_stopped`, so staff see why. During office hours the resident
hears their place in the queue; outside them they are asked to say what they need, and
when staff are back (their next message is kept for staff: connectors/handoff.py).
With the store down or refusing, the resident still gets a way to a person: 12345 and
the township centre.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.places import township_names
from bot.actions.plain_time import CHINA_TIME, when_in_words
from bot.actions.store_client import HandoffTicket, StoreError, shared_client

logger = logging.getLogger(__name__)

ASKED = "asked"
FORM_STOPPED = "form_stopped"
STOPPED_FORM_RESPONSE = "utter_too_many_tries"

# The store's states (backend/handoff/states.py).
WAITING = "waiting"
AWAITING_MESSAGE = "awaiting_message"
MESSAGE_LEFT = "message_left"


class ActionRequestHandoff(Action):
    def name(self) -> str:
        return "action_request_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            ticket = await shared_client().request_handoff(
                tracker.sender_id, reason_of(tracker), township_of(tracker)
            )
        except StoreError as error:
            # The type only: a refusal's text may quote the conversation id.
            logger.warning("Handoff not queued: %s", type(error).__name__)
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return []
        tell_where_it_stands(dispatcher, ticket, datetime.now(CHINA_TIME))
        return []


def reason_of(tracker: Tracker) -> str:
    """`form_stopped` right after a form stopped, else the resident asked."""
    return FORM_STOPPED if tracker.latest_action_name == STOPPED_FORM_RESPONSE else ASKED


def township_of(tracker: Tracker) -> str | None:
    """The conversation's township by its full name (the slot may hold a short form
    until the form validates it); None when it has none."""
    return township_names().get(str(tracker.get_slot("township") or "")) or None


def tell_where_it_stands(
    dispatcher: CollectingDispatcher, ticket: HandoffTicket, now: datetime
) -> None:
    opening = when_in_words(ticket.next_opening, now)
    if ticket.state == AWAITING_MESSAGE:
        dispatcher.utter_message(response="utter_handoff_leave_message", opening=opening)
    elif ticket.state == MESSAGE_LEFT and not ticket.office_open:
        dispatcher.utter_message(response="utter_handoff_message_left", opening=opening)
    elif ticket.state in (WAITING, MESSAGE_LEFT):
        _tell_place(dispatcher, ticket.position)
    else:
        # Taken by a staff member a moment ago: the next message reaches them.
        dispatcher.utter_message(response="utter_handoff_with_staff")


def _tell_place(dispatcher: CollectingDispatcher, position: int | None) -> None:
    if position is None or position <= 1:
        dispatcher.utter_message(response="utter_handoff_queued_next")
    else:
        dispatcher.utter_message(response="utter_handoff_queued", ahead=position - 1)
