"""The REST channel (`/webhooks/rest/webhook`) with the public-channel guard applied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rasa.core.channels import rest
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

from connectors.guard import guarded
from connectors.options import closed_on_stop, option_memory


class RestInput(rest.RestInput):
    """Rasa's REST input, keeping its name and route, with messages screened and a
    digit or a button's title read as the button it picks."""

    def __init__(self) -> None:
        super().__init__()
        self.options = option_memory(self.name())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        return closed_on_stop(
            super().blueprint(guarded(on_new_message, self.options)), self.options
        )
