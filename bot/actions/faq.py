"""Decides whether the assistant understood a question well enough to answer it.

The FallbackClassifier only sees the intent confidence; the `faq` ResponseSelector's
topic confidence is checked here too, so a question that merely resembles a topic gets
a "did you mean" with the likeliest topics instead of a confident wrong answer. The
decision is a slot the rules branch on, so every reply stays a staff-editable response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.settings import settings

CONFIDENT, UNSURE, LOST = "confident", "unsure", "lost"
SUGGESTION_SLOTS = ("suggestion_1", "suggestion_2", "suggestion_3")


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
    for variation in (domain.get("responses") or {}).get(f"utter_{key}") or []:
        title = (variation.get("metadata") or {}).get("title")
        if title:
            return title
    return None


def suggestions(latest_message: dict[str, Any], domain: dict[str, Any]) -> list[str]:
    """Titles of the likeliest topics worth offering, best first."""
    titles = []
    for guess in faq_guesses(latest_message)[: len(SUGGESTION_SLOTS)]:
        title = topic_title(domain, guess.key)
        if title and guess.confidence >= settings.clarify_min_confidence:
            titles.append(title)
    return titles


def understanding(latest_message: dict[str, Any]) -> str:
    """How well the last message was understood, judged on the FAQ topic confidence."""
    intent = (latest_message.get("intent") or {}).get("name")
    guesses = faq_guesses(latest_message)
    if intent == "faq" and guesses and guesses[0].confidence >= settings.faq_topic_threshold:
        return CONFIDENT
    return UNSURE


class ActionTriage(Action):
    """Sets `understanding` and the suggestion slots for the rules to branch on."""

    def name(self) -> str:
        return "action_triage"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        verdict = understanding(tracker.latest_message)
        titles = [] if verdict == CONFIDENT else suggestions(tracker.latest_message, domain)
        if verdict != CONFIDENT and not titles:
            verdict = LOST
        padded = titles + [None] * (len(SUGGESTION_SLOTS) - len(titles))
        return [
            SlotSet("understanding", verdict),
            SlotSet("suggestion_count", str(len(titles)) if titles else None),
            *(SlotSet(slot, title) for slot, title in zip(SUGGESTION_SLOTS, padded, strict=True)),
        ]
