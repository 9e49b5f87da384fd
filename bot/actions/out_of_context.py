"""A yes or a no with nothing waiting for it.

「好的。还有什么可以帮您？」 after 「莫存我的信息了」, 「那还是撤了嘛」 or 「算了还是提交嘛」
made residents believe it was done. Such a message is read by its words (staff-editable,
bot/lexicon/words.yml): a request not to keep anything goes to the erasure confirmation,
a request to withdraw to the withdrawal, a request to submit after leaving a form is told
truthfully that nothing was submitted; anything else is told that nothing is waiting for
a yes or no, and what can be said. The rules follow `out_of_context_reply`.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.erasure import asks_to_erase
from bot.actions.validation import lexicon


def names_unnegated(text: str, words: list[str]) -> bool:
    """One of `words` not right after a negation: 「还是撤了嘛」, not 「不撤了」."""
    negations = lexicon()["erase_negations"]
    for word in words:
        start = text.find(word)
        while start >= 0:
            if not any(negation in text[max(0, start - 2) : start] for negation in negations):
                return True
            start = text.find(word, start + 1)
    return False


def left_service(tracker: Tracker) -> str | None:
    """The service of the application last left unsubmitted in this conversation (its
    answers are deleted on leaving; the service stays), or None."""
    if tracker.get_slot("application_outcome") == "submitted":
        return None
    return tracker.get_slot("service_type")


class ActionAnswerOutOfContext(Action):
    def name(self) -> str:
        return "action_answer_out_of_context"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        words = lexicon()
        if asks_to_erase(text):
            return [SlotSet("out_of_context_reply", "erase")]
        if names_unnegated(text, words["withdraw_words"]):
            return [SlotSet("out_of_context_reply", "withdraw")]
        service = left_service(tracker)
        if service and names_unnegated(text, words["submit_words"]):
            dispatcher.utter_message(response=f"utter_not_submitted_{service}")
        else:
            dispatcher.utter_message(response="utter_nothing_pending")
        return [SlotSet("out_of_context_reply", "answered")]
