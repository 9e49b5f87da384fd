"""What a resident is told when the store's throttling refuses an attempt (429
`too_many_attempts`): how long to wait, for a lookup or a withdrawal."""

from __future__ import annotations

import math
from typing import NamedTuple

from rasa_sdk.executor import CollectingDispatcher

from bot.actions.store_client import StoreRejected


class WaitResponses(NamedTuple):
    """The domain responses that say the wait, with {minutes} and with {hours}."""

    in_minutes: str
    in_hours: str


LOOKUP_WAIT = WaitResponses("utter_lookup_too_many_tries", "utter_lookup_too_many_tries_hours")
# Past this many minutes the wait is said in hours: "1440分钟" means little to an
# elderly reader.
LONGEST_WAIT_IN_MINUTES = 120


def tell_to_wait(
    dispatcher: CollectingDispatcher, error: StoreRejected, responses: WaitResponses = LOOKUP_WAIT
) -> None:
    """How long until the store takes another try, in minutes or in hours."""
    minutes = max(1, round(float(error.details.get("retry_after", 60)) / 60))
    if minutes > LONGEST_WAIT_IN_MINUTES:
        dispatcher.utter_message(response=responses.in_hours, hours=math.ceil(minutes / 60))
    else:
        dispatcher.utter_message(response=responses.in_minutes, minutes=minutes)
