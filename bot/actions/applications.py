"""Submitting a confirmed application to the status store, and forgetting one.

Submission is exactly-once across crashes and timeouts. The idempotency key
(`submission_key`) is made when the summary is first shown (forms.py), so it is saved in
the conversation before the store is ever called: a Rasa crash during the submission
turn loses that turn, and the resident's next 「对」 sends the same key, which the store
answers with the application it already made. When the store's answer never comes (a
timeout, an outage), the store is asked by key before the resident is told anything, and
leaving the application after that asks again, says truthfully what exists and clears
the personal answers from the conversation.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.checks import CHECK_FORMS, forget_checks
from bot.actions.faq import (
    application_of_bare_request,
    question_about_a_service,
    requested_application,
)
from bot.actions.store_client import (
    CreatedApplication,
    StoreRejected,
    StoreUnavailable,
    shared_client,
)
from bot.actions.validation import asks_to_withdraw, lexicon

# The intent that asks for each service, and whether an emergency can come with it.
SERVICE_OF_INTENT = {
    "apply_elderly_card": "elderly_card",
    "apply_subsistence_allowance": "subsistence_allowance",
    "apply_housing_renovation": "housing_renovation",
    "apply_temporary_relief": "temporary_relief",
}
EMERGENCY_SERVICES = frozenset({"housing_renovation", "temporary_relief"})
FORM_OF_SERVICE = {
    "elderly_card": "elderly_card_form",
    "subsistence_allowance": "subsistence_form",
    "housing_renovation": "housing_form",
    "temporary_relief": "relief_form",
}
# Service-specific facts each form collects, stored as the application's details.
DETAIL_SLOTS = {
    "elderly_card": (),
    "subsistence_allowance": ("household_size",),
    "housing_renovation": ("house_condition",),
    "temporary_relief": ("incident",),
}
APPLICATION_SLOTS = (
    "applicant_name",
    "id_number",
    "id_number_masked",
    "phone",
    "phone_masked",
    "township",
    "household_size",
    "house_condition",
    "incident",
    "confirmed",
    "submission_key",
    "failed_attempts",
    "gave_up",
    "requested_slot",
)


def forget_application() -> list[dict[str, Any]]:
    """Events that drop every answer of the current application (personal data too)."""
    return [SlotSet(slot, None) for slot in APPLICATION_SLOTS]


def outcome(value: str | None) -> dict[str, Any]:
    return SlotSet("application_outcome", value)


def ended(result: str | None) -> list[dict[str, Any]]:
    """Events that end the current application with `result` (None: no outcome left to
    answer), dropping every answer: whatever was not submitted is not kept either."""
    return [*forget_application(), outcome(result)]


def channel_of(conversation_id: str) -> str:
    """The channel is the conversation id's prefix, which the channel itself builds (a
    forged `input_channel` on an event cannot name another)."""
    return conversation_id.split(":", 1)[0]


def notice_version(domain: dict[str, Any]) -> str:
    """The version of the privacy notice, kept beside its text in the domain."""
    variants = (domain.get("responses") or {}).get("utter_privacy_notice") or [{}]
    return str((variants[0].get("metadata") or {}).get("version") or "")


async def submit(tracker: Tracker) -> CreatedApplication:
    service = tracker.get_slot("service_type")
    return await shared_client().create_application(
        service_type=service,
        applicant_name=tracker.get_slot("applicant_name"),
        id_number=tracker.get_slot("id_number"),
        phone=tracker.get_slot("phone"),
        township=tracker.get_slot("township"),
        channel=channel_of(tracker.sender_id),
        conversation_id=tracker.sender_id,
        idempotency_key=tracker.get_slot("submission_key"),
        privacy_notice=tracker.get_slot("privacy_notice") or "",
        details={slot: tracker.get_slot(slot) for slot in DETAIL_SLOTS[service]},
    )


async def made_with_key(tracker: Tracker) -> CreatedApplication | None:
    """The application this conversation's key made, if the store says it made one.

    Raises StoreUnavailable when the store cannot say.
    """
    key = tracker.get_slot("submission_key")
    if not key:
        return None
    return await shared_client().find_by_key(key, tracker.sender_id)


def submitted(created: CreatedApplication) -> list[dict[str, Any]]:
    return [*ended("submitted"), SlotSet("tracking_number", created.tracking_number)]


class ActionSubmitApplication(Action):
    """Runs when a form ends: submits what was confirmed, or reports why not."""

    def name(self) -> str:
        return "action_submit_application"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if tracker.get_slot("confirmed") is False:
            # Declined at the summary (「不办了 我先去镇上问问」): the rules leave it.
            return [outcome("stopped")]
        if tracker.get_slot("confirmed") is not True:
            return [SlotSet("gave_up", False), outcome("gave_up")]
        try:
            return submitted(await submit(tracker))
        except StoreUnavailable:
            pass  # the create may have been committed all the same: ask before saying
        except StoreRejected as error:
            if error.code != "idempotency_conflict":
                return ended("refused")
            # Answers changed after an attempt the store did take: that one exists.
        try:
            created = await made_with_key(tracker)
        except StoreUnavailable:
            created = None
        if created is not None:
            return submitted(created)
        # The answers and the key stay, so the retry the resident is offered cannot
        # create a second application, whatever became of this attempt.
        return [outcome("unavailable")]


class ActionClearApplication(Action):
    """Leaving an application: says truthfully whether it was submitted, then forgets
    every answer (personal data too).

    Only an attempt whose answer never came can have made one; the store is asked by
    key. When it cannot say, the resident is told so and where to check later.
    """

    def name(self) -> str:
        return "action_clear_application"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events = leave_application(dispatcher, await pending_outcome(tracker))
        return [*events, *ended(None)]


async def pending_outcome(tracker: Tracker) -> CreatedApplication | str:
    """After an attempt without an answer: what the store says it made ("unknown" when
    it cannot say); otherwise "none" (nothing was ever sent)."""
    if tracker.get_slot("application_outcome") != "unavailable":
        return "none"
    try:
        return await made_with_key(tracker) or "none"
    except StoreUnavailable:
        return "unknown"


def leave_application(
    dispatcher: CollectingDispatcher, pending: CreatedApplication | str
) -> list[dict[str, Any]]:
    if isinstance(pending, CreatedApplication):
        dispatcher.utter_message(
            response="utter_application_was_submitted", tracking_number=pending.tracking_number
        )
        return [SlotSet("tracking_number", pending.tracking_number)]
    if pending == "unknown":
        dispatcher.utter_message(response="utter_application_cancelled_unsure")
        return []
    dispatcher.utter_message(response="utter_application_cancelled")
    return []


def reports_emergency(tracker: Tracker) -> bool:
    """The message tells of something happening now (fire, flood, a collapsing house …)."""
    return any(e.get("entity") == "emergency" for e in tracker.latest_message.get("entities", []))


def emergency_service(text: str) -> str:
    """Housing when a part of the house is collapsing; any other emergency is relief."""
    words = lexicon()
    house = any(part in text for part in words["house_parts"])
    if house and any(word in text for word in words["collapse_words"]):
        return "housing_renovation"
    return "temporary_relief"


def previous_bot_action(tracker: Tracker) -> str | None:
    """The last action before the resident's latest message (what they answer)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name")
    return None


class ActionStartApplication(Action):
    """Starts an application, or first gives urgent advice when something just happened.

    The service is the one the resident names in words if there is one (the intent
    classifier may mistake 「帮我老娘办老年证 … 然后要咋个弄嘛」 for another); after urgent
    advice, the application it offered; for a request naming nothing (「我要申请」), the
    service of the last answer; else the intent's. A question about the service read as a
    request (「想给我妈办老年证，要带啥子东西嘛」) gets its answer instead. Another application's answers
    are dropped (a new service starts clean); the same service asked for again continues
    with the answers already given. A withdrawal taken for an application
    (「那个救助我不要了 撤回」) goes to the withdrawal instead.
    """

    def name(self) -> str:
        return "action_start_application"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        if asks_to_withdraw(text):
            return [FollowupAction("action_offer_withdrawal")]
        topic = self.question_asked(tracker, text)
        if topic:
            dispatcher.utter_message(response=f"utter_{topic}")
            return [SlotSet("last_topic", topic), SlotSet("application_start", "answered")]
        service = self.service_asked_for(tracker, text)
        earlier = tracker.get_slot("application_service")
        # The summary is always shown again before anything is submitted, even when the
        # answers of an earlier try of this application are kept.
        events = [ActiveLoop(None), SlotSet("confirmed", None), SlotSet("requested_slot", None)]
        if earlier and earlier != service:
            events += forget_application()
        if (tracker.active_loop or {}).get("name") in CHECK_FORMS:
            events += forget_checks()  # a check left for an application ends here
        events += [SlotSet("service_type", service), SlotSet("application_service", service)]
        already_applying = (tracker.active_loop or {}).get("name") == FORM_OF_SERVICE[service]
        urgent = (
            service in EMERGENCY_SERVICES and reports_emergency(tracker) and not already_applying
        )
        if urgent:
            return [*events, SlotSet("application_start", "emergency")]
        # The rules show the privacy notice with the start, before any ID is asked; the
        # application records which version that was.
        return [
            *events,
            SlotSet("privacy_notice", notice_version(domain)),
            SlotSet("application_start", service),
        ]

    def question_asked(self, tracker: Tracker, text: str) -> str | None:
        """The FAQ topic of a question read as a request (「想办老年证，要带啥子」), when
        no form is open and nothing urgent happened; its answer ends by saying how to
        apply, and 「我要申请」 then starts this service (the topic is the last answer)."""
        if (tracker.active_loop or {}).get("name") or reports_emergency(tracker):
            return None
        return question_about_a_service(text)

    def service_asked_for(self, tracker: Tracker, text: str) -> str:
        if reports_emergency(tracker):
            return emergency_service(text)
        named = requested_application(text)
        if named:
            return named
        offered = tracker.get_slot("application_service")
        if previous_bot_action(tracker) == "utter_emergency_advice" and offered:
            return offered  # 「好 帮我申请嘛」 answers the offer made with the advice
        answered = application_of_bare_request(text, tracker.get_slot("last_topic"))
        if answered:
            return answered  # 「我要申请」 right after a 低保 answer
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        return SERVICE_OF_INTENT.get(intent) or tracker.get_slot("service_type")
