"""Decides whether the assistant understood a question well enough to answer it.

The FallbackClassifier only sees the intent confidence; the `faq` ResponseSelector's
topic confidence is checked here too, so a question that merely resembles a topic gets
a "did you mean" with the likeliest topics instead of a confident wrong answer. The
decision is a slot the rules branch on, so every reply stays a staff-editable response.

The conversation counts too (bot/lexicon/topics.yml): a follow-up that names no
service (「那要带啥子去办」) is about the service just answered, and a message naming
two services (「低保和特困有啥子区别」) gets both answers; those the triage utters itself.
A message that asks for an application in words (「不办低保 办老年证」) starts it, however
the intent classifier read it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import reading
from bot.actions.settings import settings
from bot.actions.validation import asks_something, asks_to_withdraw

CONFIDENT, UNSURE, LOST, ANSWERED = "confident", "unsure", "lost", "answered"
FOLLOWUP_MAX_LENGTH = 10
TOPICS_FILE = Path(__file__).resolve().parents[1] / "lexicon" / "topics.yml"
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


def titled_topic(text: str, domain: dict[str, Any]) -> str | None:
    """The topic whose title the text is: a did-you-mean button pressed (its payload is
    the title) or the title typed. Titles are short statements (「老年证办理条件」) that
    the words of a request would otherwise read as asking for the application."""
    wanted = text.strip()
    for name in domain.get("responses") or {}:
        key = name.removeprefix("utter_")
        if key.startswith("faq/") and topic_title(domain, key) == wanted:
            return key
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
    """Whether the last message is clear enough to answer from the knowledge base.

    One confidence cannot separate right topics from wrong ones, so three signals
    decide (measured on tests/nlu/heldout.yml; README "How the assistant decides"):
    the topic's confidence, its margin over the runner-up, and whether the service the
    resident names (老年证, 低保 …) is the topic's service. A named service that is
    not the topic's is never answered; a message the intent classifier could not place
    is answered only when one topic stands far above all others.
    """
    intent = (latest_message.get("intent") or {}).get("name")
    guesses = faq_guesses(latest_message)
    if intent not in ("faq", "nlu_fallback") or not guesses:
        return UNSURE
    top = guesses[0]
    margin = top.confidence / max(guesses[1].confidence if len(guesses) > 1 else 0.0, 1e-6)
    if intent == "nlu_fallback":
        clear = top.confidence >= settings.fallback_topic_threshold
        return CONFIDENT if clear and margin >= settings.fallback_topic_margin else UNSURE
    named = services_named(latest_message.get("text") or "")
    if named and service_of(top.key) not in named and service_of(top.key) is not None:
        return UNSURE
    if top.confidence >= settings.faq_topic_threshold:
        return CONFIDENT
    if top.confidence >= settings.faq_margin_threshold and margin >= settings.faq_topic_margin:
        return CONFIDENT
    agrees = service_of(top.key) in named
    if (
        agrees
        and top.confidence >= settings.faq_named_threshold
        and margin >= settings.faq_named_margin
    ):
        return CONFIDENT
    return UNSURE


@functools.lru_cache(maxsize=1)
def topic_words() -> dict[str, Any]:
    return yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))


def services_named(text: str) -> list[str]:
    """The services the text names, in the order it names them."""
    positions = {}
    for service, entry in topic_words()["services"].items():
        found = [text.find(word) for word in entry["words"] if word in text]
        if found:
            positions[service] = min(found)
    return sorted(positions, key=positions.get)


def service_of(topic: str | None) -> str | None:
    for service, entry in topic_words()["services"].items():
        if topic in entry["topics"]:
            return service
    return None


def followup_topic(text: str, last_topic: str | None, message: dict[str, Any]) -> str | None:
    """The topic a follow-up that names no service asks about, given the last answer."""
    service = service_of(last_topic)
    if not service or services_named(text):
        return None
    words = topic_words()
    refers_back = any(word in text for word in words["followup_words"])
    guesses = faq_guesses(message)
    model_agrees = bool(guesses) and service_of(guesses[0].key) == service
    # A short question naming no service leans on the conversation (「好久能拿到」).
    short = len(text) <= FOLLOWUP_MAX_LENGTH
    if not (refers_back or short or model_agrees or understanding(message) != CONFIDENT):
        return None
    return aspect_topic(text, service)


def aspect_topic(text: str, service: str) -> str | None:
    """The service's topic for what the text asks about it (materials, time, place …)."""
    for aspect in topic_words()["aspects"].values():
        if any(word in text for word in aspect["words"]) and service in aspect["topics"]:
            return aspect["topics"][service]
    return None


def question_about_a_service(text: str) -> str | None:
    """The topic a question about one service asks (「想给我妈办个老年证，要带啥子东西嘛」).

    Read as a request for the service, it still asks something the knowledge base
    answers; a message that gives the applicant's numbers is a request all the same.
    """
    named = services_named(text)
    if len(named) != 1 or not asks_something(text):
        return None
    if reading.values_in(text, ("id_number", "phone")):
        return None
    return aspect_topic(text, named[0])


def topics_of_two_services(text: str, message: dict[str, Any]) -> list[str]:
    """One topic for each of two services the text names, the model's best for each."""
    named = services_named(text)[:2]
    if len(named) < 2:
        return []
    ranked = [guess.key for guess in faq_guesses(message)]
    chosen = []
    for service in named:
        topics = topic_words()["services"][service]["topics"]
        chosen.append(next((key for key in ranked if key in topics), topics[0]))
    return chosen


def requested_application(text: str) -> str | None:
    """The one application the text asks for in words, not as a question."""
    words = topic_words()
    if not any(word in text for word in words["apply_words"]):
        return None
    if any(word in text for word in words["about_an_existing_one"]):
        return None
    # A question about a service is not a request for it — unless the message already
    # carries the applicant's numbers (「…身份证… 电话… 然后要咋个弄嘛」).
    gives_values = bool(reading.values_in(text, ("id_number", "phone")))
    if not gives_values and asks_something(text):
        return None
    wanted = {
        words["applications"][service]
        for service in services_named(text)
        if service in words["applications"] and not negated(text, service)
    }
    return wanted.pop() if len(wanted) == 1 else None


def bare_request(text: str) -> bool:
    """A request for an application that names nothing else (「我要申请」)."""
    words = topic_words()
    if not any(word in text for word in words["apply_words"]) or asks_something(text):
        return False
    rest = "".join(char for char in text if char.isalnum())
    for word in sorted(words["bare_request_words"], key=len, reverse=True):
        rest = rest.replace(word, "")
    return not rest


def application_answered(last_topic: str | None) -> str | None:
    """The application of the service the last answer was about, if it has one."""
    return topic_words()["applications"].get(service_of(last_topic))


def application_of_bare_request(text: str, last_topic: str | None) -> str | None:
    """「我要申请」 right after a 低保 answer asks for the 低保 application."""
    return application_answered(last_topic) if bare_request(text) else None


def negated(text: str, service: str) -> bool:
    """Every mention of the service follows a negation (「不办低保」, 「莫报危房」)."""
    words = topic_words()
    mentions = [
        text[max(0, index - 3) : index]
        for word in words["services"][service]["words"]
        for index in [text.find(word)]
        if index >= 0
    ]
    return bool(mentions) and all(
        any(negation in before for negation in words["negations"]) for before in mentions
    )


class ActionTriage(Action):
    """Sets `understanding` and the suggestion slots for the rules to branch on."""

    def name(self) -> str:
        return "action_triage"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message
        text = message.get("text") or ""
        if asks_to_withdraw(text):
            return [FollowupAction("action_offer_withdrawal")]  # 「撤回DA202612010006」
        titled = titled_topic(text, domain)
        if titled:
            dispatcher.utter_message(response=f"utter_{titled}")
            return [SlotSet("understanding", ANSWERED), SlotSet("last_topic", titled)]
        last_topic = tracker.get_slot("last_topic")
        if requested_application(text) or application_of_bare_request(text, last_topic):
            # 「不办低保 办老年证」 read as a question, or 「我要申请」 after an answer: it
            # asks for an application.
            return [FollowupAction("action_start_application")]
        if (message.get("intent") or {}).get("name") == "inform":
            return [SlotSet("understanding", LOST)]  # a bare value, with nothing asked
        answers = topics_of_two_services(text, message)
        followup = followup_topic(text, last_topic, message)
        if followup and not answers:
            answers = [followup]
        if answers:
            for topic in answers:
                dispatcher.utter_message(response=f"utter_{topic}")
            return [SlotSet("understanding", ANSWERED), SlotSet("last_topic", answers[-1])]
        verdict = understanding(message)
        titles = [] if verdict == CONFIDENT else suggestions(message, domain)
        if verdict != CONFIDENT and not titles:
            verdict = LOST
        padded = titles + [None] * (len(SUGGESTION_SLOTS) - len(titles))
        guesses = faq_guesses(message)
        last_topic = guesses[0].key if verdict == CONFIDENT and guesses else None
        shown = {
            "last_topic": last_topic or tracker.get_slot("last_topic"),
            "suggestion_count": str(len(titles)) if titles else None,
            **dict(zip(SUGGESTION_SLOTS, padded, strict=True)),
        }
        # Every event is stored and replayed on every later turn: unchanged slots are not
        # set again. `understanding` is, for the rules to branch on.
        changed = {slot: value for slot, value in shown.items() if tracker.get_slot(slot) != value}
        return [
            SlotSet("understanding", verdict),
            *(SlotSet(slot, value) for slot, value in changed.items()),
        ]
