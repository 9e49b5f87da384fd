"""The REST channel (`/webhooks/rest/webhook`) with the public-channel guard applied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rasa.core.channels import rest
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

from connectors.guard import guarded


class RestInput(rest.RestInput):
    """Rasa's REST input, keeping its name and route, with messages screened."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        return super().blueprint(guarded(on_new_message))
