"""Deleting a resident's conversation on request (PIPL art. 47): 「删除我的聊天记录」.

The rules ask for a confirmation first; after a yes this action says it is done and ends
its events with `erase_conversation` set. The encrypted tracker store, saving a
conversation with that slot set, deletes every stored event of it instead of saving
(rasa_runtime); the channels' per-conversation state expires on its own. Applications
already submitted are records of the district and stay (the reply says so).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.applications import forget_application
from bot.actions.checks import forget_checks


class ActionEraseConversation(Action):
    def name(self) -> str:
        return "action_erase_conversation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_conversation_erased")
        # Cleared too, in case a store that cannot delete keeps the conversation.
        cleared = [*forget_application(), *forget_checks()]
        return [*cleared, SlotSet("erase_conversation", True)]
