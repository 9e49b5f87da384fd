"""Which turns the staff inbox gets, read from a conversation's events as Rasa stores them.

A turn starts with the resident's message (a `user` event) and ends when the assistant
listens again (`action_listen`). It is captured when the assistant said one of the
replies below, whichever action said it: a rule (`utter_default`, `utter_clarify` …),
Rasa's core fallback (`action_default_fallback` utters `utter_default`), a retrieval
answer (`utter_out_of_scope/<matter>`) or the action server. Each bot event names the
response it came from (`utter_action` in its metadata), so the reply, not the path to
it, decides.

A did-you-mean (`clarified`) is resolved when the resident's next message is one of its
buttons and the assistant then answers the topic of that button's title: the label is
that answer's topic (`faq/<topic>`). Anything else typed, 「转人工」 included, leaves it
unresolved. What a clarify offered is kept in memory for as long as a conversation
session lasts, so a press that reaches another replica, or this one after a restart,
is not resolved (the item stays in the inbox, nothing is lost).

A captured item names the item of the conversation's turn just before it (`follows`)
when that turn was captured too: the resident rephrasing after the fallback, a
did-you-mean or a referral; the store puts it in that item's group. Any turn not
captured in between (an answer, a form's question) breaks the chain. Like the
did-you-mean's buttons, the last item is kept in memory per server for as long as a
session lasts: a rephrasing that reaches another replica, or this one after a restart,
follows nothing and is grouped by its words.

Every turn, captured or not, is also reported to `on_turn` with how it ended
(`answered`; `form` when a form was active as the message came and no knowledge-base
answer was given: a name, an ID number, 「对的」 are no questions; or the capture
reason): the dashboard's containment rate counts them (`rasa_runtime.turn_counts`).

Nothing here does I/O; `rasa_runtime.capture` writes what `TurnWatcher.observe` returns.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.actions.places import township_names

# The replies that make a turn an inbox item, and why. When one turn holds several, the
# first reason in this order wins. A stopped form is followed by the handoff's reply
# (the store queues it as `form_stopped` too): the item keeps the more telling reason.
REASONS = {
    "utter_too_many_tries": "form_stopped",
    # What bot/actions/handoff.py says after 「转人工」, whatever the store answered.
    "utter_handoff_queued": "handoff",
    "utter_handoff_queued_next": "handoff",
    "utter_handoff_leave_message": "handoff",
    "utter_handoff_message_left": "handoff",
    "utter_handoff_with_staff": "handoff",
    "utter_handoff_unavailable": "handoff",
    "utter_default": "fallback",
    "utter_out_of_scope": "out_of_scope",
    "utter_clarify": "clarified",
}
# How a turn that is not captured ended (backend/openapi.yaml, schema TurnCounts).
ANSWERED = "answered"
FORM_ANSWER = "form"
CHANNELS = ("rest", "socketio", "wechat")
FAQ_ANSWER_PREFIX = "utter_faq/"
TOWNSHIP_SLOT = "township"

# The store's limits (backend/openapi.yaml, schema Capture).
MAX_GUESSES = 10
MAX_NAME_CHARS = 100
MAX_TEXT_CHARS = 2000
MAX_REPLY_CHARS = 4000
MAX_MODEL_CHARS = 200
MAX_CONVERSATION_ID_CHARS = 255
# Per selector: the topics worth a look beside the intents.
TOPICS_PER_SELECTOR = 5
SELECTORS = ("faq", "out_of_scope")
# The store's times are China Standard Time.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
# As long as Rasa keeps a conversation session open (session_expiration_time, domain.yml):
# how long a did-you-mean's buttons can be pressed and a captured turn rephrased.
CLARIFY_LIFETIME_SECONDS = 3600.0
# Conversations followed at once; the longest idle is forgotten first.
MAX_CONVERSATIONS = 10_000


@dataclass(frozen=True)
class Capture:
    """One inbox item: the contract's `Capture` (backend/openapi.yaml)."""

    capture_id: str
    reason: str
    conversation_id: str
    text: str
    occurred_at: float
    intents: tuple[tuple[str, float], ...]
    topics: tuple[tuple[str, float], ...]
    model: str | None
    reply: str
    township: str | None
    follows: str | None = None

    @property
    def channel(self) -> str:
        return _channel(self.conversation_id)

    def body(self) -> dict[str, Any]:
        """The request body of `POST /inbox/items`."""
        body: dict[str, Any] = {
            "capture_id": self.capture_id,
            "reason": self.reason,
            "channel": self.channel,
            "conversation_id": self.conversation_id,
            "text": self.text[:MAX_TEXT_CHARS],
            "occurred_at": datetime.fromtimestamp(self.occurred_at, CHINA_STANDARD_TIME).isoformat(
                timespec="seconds"
            ),
            "intents": [_guess(name, confidence) for name, confidence in self.intents],
            "topics": [_guess(name, confidence) for name, confidence in self.topics],
            "reply": self.reply[:MAX_REPLY_CHARS],
            "township": self.township,
            "follows": self.follows,
        }
        if self.model:
            body["model"] = self.model[:MAX_MODEL_CHARS]
        return body


@dataclass(frozen=True)
class Resolution:
    """The resident picked a did-you-mean's topic: `POST /inbox/items/{id}/resolution`."""

    capture_id: str
    label: str

    def body(self) -> dict[str, Any]:
        return {"label": self.label[:MAX_NAME_CHARS]}


Item = Capture | Resolution


@dataclass(frozen=True)
class TurnEnded:
    """A resident's turn and how it ended: `answered` or the reason it was captured."""

    channel: str
    occurred_at: float
    outcome: str


def _guess(name: str, confidence: float) -> dict[str, Any]:
    return {"name": name[:MAX_NAME_CHARS], "confidence": round(min(max(confidence, 0.0), 1.0), 4)}


@dataclass
class _Turn:
    message: Mapping[str, Any]
    replies: list[str] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)
    # payload → title of the buttons a clarify in this turn offered
    offered: dict[str, str] = field(default_factory=dict)
    # (topic, title) of each knowledge-base answer given
    answers: list[tuple[str, str | None]] = field(default_factory=list)
    # the title of the button of a previous clarify that this message pressed
    pressed: str | None = None
    pressed_capture: str | None = None
    # a form was active when the message came (its answer is no question)
    in_form: bool = False
    # the item of the conversation's turn just before, when that turn was captured
    follows: str | None = None


@dataclass
class _Clarified:
    capture_id: str
    offered: dict[str, str]
    at: float


@dataclass
class _Captured:
    capture_id: str
    at: float


@dataclass
class _Conversation:
    turn: _Turn | None = None
    clarified: _Clarified | None = None
    township: str | None = None
    form: str | None = None
    # the last turn's item, while it can be rephrased (None after a turn not captured)
    captured: _Captured | None = None


class TurnWatcher:
    """Follows every conversation's events in order; returns the items they make."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        on_turn: Callable[[TurnEnded], None] | None = None,
        model_name: Callable[[str | None], str | None] = lambda model_id: model_id,
    ) -> None:
        self._clock = clock
        self._on_turn = on_turn
        # The name staff know a model by (its file), from the id Rasa tags messages with.
        self._model_name = model_name
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()

    def observe(self, event: Mapping[str, Any]) -> list[Item]:
        """The items this event completes (a turn ends only at `action_listen`)."""
        sender = str(event.get("sender_id") or "")
        if not is_channel_conversation(sender):
            return []  # the HTTP API's own conversations, tests: no channel to name
        conversation = self._conversation(sender)
        kind = event.get("event")
        if kind == "user":
            conversation.turn = self._started(conversation, event)
        elif kind == "slot" and event.get("name") == TOWNSHIP_SLOT:
            # Slots filled from the message hold a short form (牛佛) until validated.
            conversation.township = township_names().get(str(event.get("value") or ""))
        elif kind == "active_loop":
            conversation.form = event.get("name") or None
        elif kind == "bot" and conversation.turn is not None:
            _said(conversation.turn, event)
        elif kind == "action" and event.get("name") == "action_listen":
            return self._ended(sender, conversation)
        return []

    def forget(self, sender: str) -> None:
        """The conversation was erased: nothing of it is followed any more."""
        self._conversations.pop(sender, None)

    def _conversation(self, sender: str) -> _Conversation:
        conversation = self._conversations.pop(sender, None) or _Conversation()
        self._conversations[sender] = conversation
        while len(self._conversations) > MAX_CONVERSATIONS:
            self._conversations.popitem(last=False)
        return conversation

    def _started(self, conversation: _Conversation, event: Mapping[str, Any]) -> _Turn:
        turn = _Turn(message=event, in_form=conversation.form is not None)
        clarified, conversation.clarified = conversation.clarified, None
        if clarified is not None and self._recent(clarified.at):
            turn.pressed = clarified.offered.get((event.get("text") or "").strip())
            turn.pressed_capture = clarified.capture_id
        captured, conversation.captured = conversation.captured, None
        if captured is not None and self._recent(captured.at):
            turn.follows = captured.capture_id
        return turn

    def _recent(self, at: float) -> bool:
        return self._clock() - at <= CLARIFY_LIFETIME_SECONDS

    def _ended(self, sender: str, conversation: _Conversation) -> list[Item]:
        turn, conversation.turn = conversation.turn, None
        if turn is None:
            return []  # the session's first listen, or a turn begun before a restart
        items: list[Item] = []
        resolution = _resolution(turn)
        if resolution is not None:
            items.append(resolution)
        reason = next((why for why in REASONS.values() if why in turn.reasons), None)
        if self._on_turn is not None:
            self._on_turn(TurnEnded(_channel(sender), _occurred_at(turn), _outcome(turn, reason)))
        if reason is None:
            return items
        capture = _capture(sender, turn, reason, conversation.township, self._model_name)
        items.append(capture)
        conversation.captured = _Captured(capture.capture_id, self._clock())
        if reason == "clarified" and turn.offered:
            conversation.clarified = _Clarified(capture.capture_id, turn.offered, self._clock())
        return items


def is_channel_conversation(sender: str) -> bool:
    """Whether a public channel named this conversation (`<channel>:<its own id>`)."""
    channel, _, own_id = sender.partition(":")
    return (
        channel in CHANNELS
        and bool(own_id)
        and len(sender) <= MAX_CONVERSATION_ID_CHARS
        and sender.isprintable()
    )


def _channel(sender: str) -> str:
    return sender.partition(":")[0]


def _outcome(turn: _Turn, reason: str | None) -> str:
    """The capture reason; else `form` for an answer to a form (a question answered
    inside one is a question answered)."""
    if reason is not None:
        return reason
    return FORM_ANSWER if turn.in_form and not turn.answers else ANSWERED


def _occurred_at(turn: _Turn) -> float:
    return float(turn.message.get("timestamp") or time.time())


def _said(turn: _Turn, event: Mapping[str, Any]) -> None:
    metadata = event.get("metadata") or {}
    response = str(metadata.get("utter_action") or "")
    if event.get("text"):
        turn.replies.append(str(event["text"]))
    reason = REASONS.get(response.split("/", 1)[0])
    if reason is not None:
        turn.reasons.add(reason)
    if reason == "clarified":
        for button in (event.get("data") or {}).get("buttons") or []:
            payload = str(button.get("payload") or "").strip()
            if payload:
                turn.offered[payload] = str(button.get("title") or payload)
    if response.startswith(FAQ_ANSWER_PREFIX):
        title = (metadata.get("metadata") or {}).get("title")
        turn.answers.append((response.removeprefix("utter_"), title))


def _resolution(turn: _Turn) -> Resolution | None:
    """The topic answered for the title pressed (a press read as another topic, or as a
    request for a person, resolves nothing)."""
    if turn.pressed is None or turn.pressed_capture is None:
        return None
    for topic, title in turn.answers:
        if title == turn.pressed:
            return Resolution(turn.pressed_capture, topic)
    return None


def _capture(
    sender: str,
    turn: _Turn,
    reason: str,
    township: str | None,
    model_name: Callable[[str | None], str | None],
) -> Capture:
    message = turn.message
    parse_data = message.get("parse_data") or {}
    return Capture(
        capture_id=str(uuid.uuid4()),
        reason=reason,
        conversation_id=sender,
        text=str(message.get("text") or ""),
        occurred_at=_occurred_at(turn),
        intents=_ranked(parse_data.get("intent_ranking") or [], "name"),
        topics=_topics(parse_data.get("response_selector") or {}),
        model=model_name((message.get("metadata") or {}).get("model_id")),
        reply="\n".join(turn.replies),
        township=township,
        follows=turn.follows,
    )


def _ranked(ranking: list[Mapping[str, Any]], key: str) -> tuple[tuple[str, float], ...]:
    return tuple(
        (str(entry[key]), float(entry.get("confidence") or 0.0))
        for entry in ranking[:MAX_GUESSES]
        if entry.get(key)
    )


def _topics(selectors: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    topics = [
        guess
        for selector in SELECTORS
        for guess in _ranked(
            ((selectors.get(selector) or {}).get("ranking") or [])[:TOPICS_PER_SELECTOR],
            "intent_response_key",
        )
    ]
    return tuple(sorted(topics, key=lambda guess: guess[1], reverse=True)[:MAX_GUESSES])
