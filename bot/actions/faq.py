"""Knowledge-base answers, with a second confidence check the NLU pipeline lacks.

The FallbackClassifier only sees the intent confidence; the `faq` ResponseSelector's
topic confidence is checked here, so a question that merely resembles a topic gets a
"did you mean" instead of a confident wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.settings import settings

HUMAN_BUTTON = {"title": "转人工", "payload": "转人工"}


@dataclass(frozen=True)
class TopicGuess:
    key: str  # e.g. "faq/pension_benefit"
    confidence: float


def faq_guesses(latest_message: dict[str, Any]) -> list[TopicGuess]:
    """The FAQ topics the ResponseSelector ranked for the last message, best first."""
    selector = (latest_message.get("response_selector") or {}).get("faq") or {}
    return [
        TopicGuess(item["intent_response_key"], float(item.get("confidence", 0.0)))
        for item in selector.get("ranking") or []
        if item.get("intent_response_key")
    ]


def topic_title(domain: dict[str, Any], key: str) -> str | None:
    """The short question staff gave a topic (metadata.title of its answer)."""
    variations = (domain.get("responses") or {}).get(f"utter_{key}") or []
    for variation in variations:
        title = (variation.get("metadata") or {}).get("title")
        if title:
            return title
    return None


def clarify(dispatcher: CollectingDispatcher, latest_message: dict, domain: dict) -> None:
    """Offer the likeliest topics as buttons, or ask to rephrase when there are none."""
    buttons = []
    for guess in faq_guesses(latest_message)[: settings.clarify_max_options]:
        title = topic_title(domain, guess.key)
        if title and guess.confidence >= settings.clarify_min_confidence:
            buttons.append({"title": title, "payload": title})
    if buttons:
        dispatcher.utter_message(response="utter_clarify", buttons=[*buttons, HUMAN_BUTTON])
    else:
        dispatcher.utter_message(response="utter_default")


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        guesses = faq_guesses(tracker.latest_message)
        if guesses and guesses[0].confidence >= settings.faq_topic_threshold:
            dispatcher.utter_message(response=f"utter_{guesses[0].key}")
        else:
            clarify(dispatcher, tracker.latest_message, domain)
        return []


class ActionClarify(Action):
    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        clarify(dispatcher, tracker.latest_message, domain)
        return []
