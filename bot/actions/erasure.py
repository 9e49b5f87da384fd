"""Deleting a resident's conversation on request (PIPL art. 47): 「删除我的聊天记录」.

The rules ask for a confirmation first; after a yes this action says it is done and ends
its events with `erase_conversation` set. A "no" that asks not to keep anything
(「不要了 你们莫存我的信息」) is a yes too. The encrypted tracker store, saving a
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
from bot.actions.validation import lexicon


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


def asks_to_erase(text: str) -> bool:
    """The words ask to delete or not to keep (「莫存我的信息」), not 「不删了」."""
    words = lexicon()
    if any(refusal in text for refusal in words["keep_refusals"]):
        return True
    for word in words["erase_words"]:
        start = text.find(word)
        while start >= 0:
            before = text[max(0, start - 2) : start]
            if not any(negation in before for negation in words["erase_negations"]):
                return True
            start = text.find(word, start + 1)
    return False


class ActionAnswerEraseRefusal(Action):
    """A no (or cancel) at the erasure confirmation: kept, unless it asks not to keep."""

    def name(self) -> str:
        return "action_answer_erase_refusal"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if asks_to_erase(tracker.latest_message.get("text") or ""):
            return await ActionEraseConversation().run(dispatcher, tracker, domain)
        dispatcher.utter_message(response="utter_erase_kept")
        return []
