"""Form validation and submission actions with real trackers and a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import applications, forms, withdrawal
from bot.actions.settings import settings
from bot.actions.store_client import StoreClient
from tests.actions.domain_text import DOMAIN, rendered
from tests.conftest import ROOT
from tests.servers import StoreProcess, free_port, start_store

TOKEN = "service-token-for-action-tests"
SENIOR_ID = "510304195503120042"


def form_tracker(
    form: str, requested: str, given: dict[str, Any], message: dict | None = None, **slots: Any
) -> Tracker:
    """A tracker just after the resident answered `requested` inside `form`."""
    text = str(next(iter(given.values()), ""))
    events = [
        {"event": "user", "text": text},
        *({"event": "slot", "name": name, "value": value} for name, value in given.items()),
    ]
    return Tracker(
        sender_id="resident-1",
        slots={"requested_slot": requested, **slots, **given},
        latest_message=message or {"intent": {"name": "inform"}, "entities": [], "text": text},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": form},
        latest_action_name="action_listen",
    )


def slot_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def validate(action: forms.ApplicationFormValidation, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return slot_values(events), rendered(dispatcher.messages)


async def test_a_valid_id_number_is_kept_normalised_and_masked_for_display():
    tracker = form_tracker(
        "elderly_card_form", "id_number", {"id_number": "５１０３０４１９５５０３１２００４２"}
    )
    slots, messages = await validate(forms.ValidateElderlyCardForm(), tracker)
    assert slots["id_number"] == SENIOR_ID
    assert slots["id_number_masked"] == "5103**********0042"
    assert not messages


async def test_the_elderly_card_age_rule_applies_to_that_form_only():
    young = "510304198001010023"
    elderly = form_tracker("elderly_card_form", "id_number", {"id_number": young})
    slots, messages = await validate(forms.ValidateElderlyCardForm(), elderly)
    assert slots["id_number"] is None
    assert f"{settings.elderly_card_min_age}岁" in messages[0]
    subsistence = form_tracker("subsistence_form", "id_number", {"id_number": young})
    slots, _ = await validate(forms.ValidateSubsistenceForm(), subsistence)
    assert slots["id_number"] == young


async def test_third_unusable_answer_stops_the_form_and_keeps_earlier_answers():
    failures: dict[str, int] = {}
    for attempt in range(1, settings.max_field_failures + 1):
        tracker = form_tracker(
            "elderly_card_form",
            "phone",
            {"phone": "12345"},
            failed_attempts=failures,
            applicant_name="王秀英",
        )
        slots, messages = await validate(forms.ValidateElderlyCardForm(), tracker)
        failures = slots["failed_attempts"]
        if attempt < settings.max_field_failures:
            assert "手机号" in messages[0] and "requested_slot" not in slots
    assert slots["gave_up"] is True and slots["requested_slot"] is None
    assert "applicant_name" not in slots  # the name given earlier is not touched


def faq_message(text: str, topic_confidence: float, runner_up: float = 0.15) -> dict[str, Any]:
    ranking = [
        {"intent_response_key": "faq/elderly_card_benefits", "confidence": topic_confidence},
        {"intent_response_key": "faq/elderly_card_pickup", "confidence": runner_up},
    ]
    return {
        "text": text,
        "intent": {"name": "faq", "confidence": 0.9},
        "entities": [],
        "response_selector": {"faq": {"ranking": ranking}},
    }


async def extracted(tracker: Tracker) -> dict[str, Any]:
    action = forms.ValidateElderlyCardForm()
    return slot_values(await action.get_extraction_events(CollectingDispatcher(), tracker, DOMAIN))


async def test_an_answer_mistaken_for_a_question_is_still_taken():
    tracker = form_tracker("elderly_card_form", "applicant_name", {}, faq_message("张大山", 0.95))
    assert await extracted(tracker) == {"applicant_name": "张大山"}


async def test_a_confident_question_in_the_form_is_left_for_the_knowledge_base():
    question = faq_message("老年证有啥子用", 0.95)
    assert await extracted(form_tracker("elderly_card_form", "id_number", {}, question)) == {}
    # An unclear question is left to the did-you-mean too; an unclear non-question is
    # read as the answer, and explained.
    unsure = faq_message("老年证有啥子用", 0.18)
    tracker = form_tracker("elderly_card_form", "id_number", {}, unsure)
    assert await extracted(tracker) == {}
    statement = faq_message("老年证办过一次了", 0.18)
    tracker = form_tracker("elderly_card_form", "id_number", {}, statement)
    assert await extracted(tracker) == {"id_number": "老年证办过一次了"}


async def test_an_unknown_place_lists_the_districts_streets_and_towns():
    tracker = form_tracker("housing_form", "township", {"township": "火星"})
    slots, messages = await validate(forms.ValidateHousingForm(), tracker)
    assert slots["township"] is None
    assert "马冲口街道" in messages[0] and "牛佛镇" in messages[0]
    assert "凤凰乡" not in messages[0]  # abolished in the 2019 reform


@pytest.mark.parametrize(
    "text, says",
    [("北京", "不在大安区"), ("我们村里", "属于哪个镇或街道"), ("大安区", "哪一个")],
)
async def test_a_place_that_is_not_a_unit_gets_a_way_forward(text, says):
    tracker = form_tracker("housing_form", "township", {"township": text})
    slots, messages = await validate(forms.ValidateHousingForm(), tracker)
    assert slots["township"] is None
    assert says in messages[0]


async def test_confirmation_makes_one_submission_key_and_keeps_it():
    tracker = form_tracker("relief_form", "confirmed", {"confirmed": True})
    slots, _ = await validate(forms.ValidateReliefForm(), tracker)
    key = slots["submission_key"]
    assert key and slots["confirmed"] is True
    again = form_tracker("relief_form", "confirmed", {"confirmed": True}, submission_key=key)
    slots, _ = await validate(forms.ValidateReliefForm(), again)
    assert slots["submission_key"] == key


async def test_saying_no_at_confirmation_asks_what_to_correct():
    tracker = form_tracker("relief_form", "confirmed", {"confirmed": False})
    slots, messages = await validate(forms.ValidateReliefForm(), tracker)
    assert slots["confirmed"] is None
    assert "正确的内容" in messages[0]


def start_test_store(folder: Path, port: int) -> StoreProcess:
    return start_store(folder, port, STORE_SERVICE_TOKEN=TOKEN)


@pytest_asyncio.fixture
async def store_client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StoreClient]:
    port = free_port()
    async with StoreClient(f"http://127.0.0.1:{port}", TOKEN, timeout_seconds=2) as client:
        monkeypatch.setattr(applications, "shared_client", lambda: client)
        monkeypatch.setattr(withdrawal, "shared_client", lambda: client)
        yield client


def confirmed_application(**slots: Any) -> Tracker:
    values = {
        "service_type": "elderly_card",
        "applicant_name": "王秀英",
        "id_number": SENIOR_ID,
        "phone": "13812345678",
        "township": "牛佛镇",
        "confirmed": True,
        "submission_key": "key-1",
        "privacy_notice": "2026-11",
        **slots,
    }
    return Tracker("rest:resident-7", values, {}, [], False, None, None, "elderly_card_form")


async def submit(tracker: Tracker) -> dict[str, Any]:
    events = await applications.ActionSubmitApplication().run(
        CollectingDispatcher(), tracker, DOMAIN
    )
    return slot_values(events)


async def test_store_down_loses_nothing_and_the_retry_submits_exactly_once(
    store_client: StoreClient, tmp_path: Path
):
    tracker = confirmed_application()
    slots = await submit(tracker)
    assert slots == {"application_outcome": "unavailable"}  # answers untouched

    port = int(store_client.base_url.rsplit(":", 1)[1])
    server = start_test_store(tmp_path, port)
    try:
        first = await submit(tracker)
        second = await submit(tracker)  # e.g. the resident pressed 再试一次 twice
        assert first["application_outcome"] == "submitted"
        assert first["tracking_number"] == second["tracking_number"]
        assert first["id_number"] is None and first["phone"] is None  # forgotten after submission
        own = await store_client.list_for_conversation("rest:resident-7")
        assert [a.tracking_number for a in own] == [first["tracking_number"]]
    finally:
        server.stop()


async def test_nothing_is_submitted_without_confirmation(store_client: StoreClient):
    slots = await submit(confirmed_application(confirmed=None))
    assert slots["application_outcome"] == "gave_up"


SUMMARY_READY = {
    "applicant_name": "王秀英",
    "id_number": SENIOR_ID,
    "phone": "13812345678",
}


async def test_the_key_is_made_when_the_summary_is_first_shown_and_kept():
    """Saved with the summary's turn, before the store is ever called (finding 4)."""
    tracker = form_tracker("elderly_card_form", "township", {"township": "牛佛"}, **SUMMARY_READY)
    slots, _ = await validate(forms.ValidateElderlyCardForm(), tracker)
    assert slots["township"] == "牛佛镇"
    key = slots["submission_key"]
    assert len(key) == 32

    again = form_tracker(
        "elderly_card_form", "phone", {"phone": "13912345678"}, submission_key=key,
        applicant_name="王秀英", id_number=SENIOR_ID, township="牛佛镇",
    )  # fmt: skip
    slots, _ = await validate(forms.ValidateElderlyCardForm(), again)
    assert "submission_key" not in slots  # a correction keeps the key


async def test_no_key_while_answers_are_missing():
    tracker = form_tracker(
        "elderly_card_form", "phone", {"phone": "13812345678"}, applicant_name="王秀英"
    )
    slots, _ = await validate(forms.ValidateElderlyCardForm(), tracker)
    assert slots["phone"] == "13812345678"
    assert "submission_key" not in slots


async def test_a_start_records_the_privacy_notice_version_shown():
    tracker = Tracker(
        "rest:resident-8", {}, {"text": "办老年证", "intent": {"name": "apply_elderly_card"}},
        [], False, None, None, "action_listen",
    )  # fmt: skip
    events = await applications.ActionStartApplication().run(
        CollectingDispatcher(), tracker, DOMAIN
    )
    slots = slot_values(events)
    assert slots["privacy_notice"] == "2026-11"
    assert slots["application_start"] == "elderly_card"


async def started_service(text: str, intent: str, **slots: Any) -> str:
    tracker = Tracker(
        "rest:resident-9", slots, {"text": text, "intent": {"name": intent}, "entities": []},
        [], False, None, None, "action_listen",
    )  # fmt: skip
    events = await applications.ActionStartApplication().run(
        CollectingDispatcher(), tracker, DOMAIN
    )
    return slot_values(events)["application_start"]


@pytest.mark.parametrize(
    "last_topic, service",
    [
        ("faq/subsistence_process", "subsistence_allowance"),
        ("faq/temporary_relief", "temporary_relief"),
        ("faq/housing_renovation_subsidy", "housing_renovation"),
    ],
)
async def test_a_bare_request_applies_for_the_service_just_answered(last_topic, service):
    # The intent classifier cannot know which application 「我要申请」 means.
    assert await started_service("我要申请", "apply_elderly_card", last_topic=last_topic) == service


@pytest.mark.parametrize(
    "text, intent, last_topic, service",
    [
        ("我要申请老年证", "apply_elderly_card", "faq/subsistence_process", "elderly_card"),
        ("我要申请修房子", "apply_housing_renovation", "faq/subsistence_process",
         "housing_renovation"),
        ("我要申请", "apply_elderly_card", "faq/pension_enroll", "elderly_card"),
        ("我要申请", "apply_elderly_card", None, "elderly_card"),
    ],
)  # fmt: skip
async def test_a_request_that_says_more_keeps_its_own_service(text, intent, last_topic, service):
    assert await started_service(text, intent, last_topic=last_topic) == service


@pytest.mark.parametrize(
    "text, topic",
    [
        ("我想给我妈办个老年证哈，要带啥子东西嘛", "faq/elderly_card_materials"),
        ("想帮屋头老人申请低保 要准备些啥子材料", "faq/subsistence_materials"),
        ("准备给我老汉儿办老年证 好久能拿到", "faq/elderly_card_pickup"),
    ],
)
async def test_a_question_about_a_service_read_as_a_request_is_answered(text, topic):
    # 「我想办老年证，要带啥子」 asks what to bring: the answer, not the form, comes first.
    intent = "apply_subsistence_allowance" if "低保" in text else "apply_elderly_card"
    tracker = Tracker(
        "rest:resident-10", {}, {"text": text, "intent": {"name": intent}, "entities": []},
        [], False, None, None, "action_listen",
    )  # fmt: skip
    dispatcher = CollectingDispatcher()
    events = await applications.ActionStartApplication().run(dispatcher, tracker, DOMAIN)
    assert [m["response"] for m in dispatcher.messages] == [f"utter_{topic}"]
    slots = slot_values(events)
    assert slots["application_start"] == "answered" and slots["last_topic"] == topic


@pytest.mark.parametrize(
    "text",
    [
        "我今天就要在这上面办老年证 咋个开始",  # asks how to start: starts
        f"帮我妈办老年证 身份证{SENIOR_ID} 要带啥子",  # gives her number: a request
    ],
)
async def test_a_request_with_a_question_that_is_no_aspect_still_starts(text):
    assert await started_service(text, "apply_elderly_card") == "elderly_card"


async def test_the_submission_sends_the_notice_version_and_the_channel_of_the_id(
    store_client: StoreClient, tmp_path: Path
):
    port = int(store_client.base_url.rsplit(":", 1)[1])
    server = start_test_store(tmp_path, port)
    try:
        slots = await submit(confirmed_application(submission_key="key-notice"))
        assert slots["application_outcome"] == "submitted"
        found = await store_client.find_by_key("key-notice", "rest:resident-7")
        assert found is not None and found.tracking_number == slots["tracking_number"]
    finally:
        server.stop()


def after_unavailable(**slots: Any) -> Tracker:
    """The resident leaves after a submission that got no answer."""
    values = {
        **SUMMARY_READY,
        "service_type": "elderly_card",
        "township": "牛佛镇",
        "submission_key": "key-left",
        "privacy_notice": "2026-11",
        "application_outcome": "unavailable",
        **slots,
    }
    message = {"text": "不办了", "intent": {"name": "cancel"}, "entities": []}
    return Tracker("rest:resident-9", values, message, [], False, None, None, "action_listen")


async def leave(action: Any, tracker: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return slot_values(events), rendered(dispatcher.messages)


PERSONAL = ("applicant_name", "id_number", "phone", "submission_key")


@pytest.mark.parametrize(
    "action", [applications.ActionClearApplication(), withdrawal.ActionOfferWithdrawal()]
)
async def test_leaving_after_an_unanswered_submission_tells_what_the_store_made(
    store_client: StoreClient, tmp_path: Path, action: Any
):
    port = int(store_client.base_url.rsplit(":", 1)[1])
    server = start_test_store(tmp_path, port)
    try:
        # The timed-out create was committed all the same.
        created = await store_client.create_application(
            service_type="elderly_card", applicant_name="王秀英", id_number=SENIOR_ID,
            phone="13812345678", township="牛佛镇", channel="rest",
            conversation_id="rest:resident-9", idempotency_key="key-left",
            privacy_notice="2026-11",
        )  # fmt: skip
        slots, messages = await leave(action, after_unavailable())
    finally:
        server.stop()
    assert created.tracking_number in messages[0] and "已经提交" in messages[0]
    assert "没有提交" not in messages[0]
    assert all(slots[slot] is None for slot in PERSONAL)
    assert slots["tracking_number"] == created.tracking_number


@pytest.mark.parametrize(
    "action", [applications.ActionClearApplication(), withdrawal.ActionOfferWithdrawal()]
)
async def test_leaving_after_an_unanswered_submission_that_made_nothing(
    store_client: StoreClient, tmp_path: Path, action: Any
):
    port = int(store_client.base_url.rsplit(":", 1)[1])
    server = start_test_store(tmp_path, port)
    try:
        slots, messages = await leave(action, after_unavailable())
    finally:
        server.stop()
    assert "没有提交" in messages[0]
    assert all(slots[slot] is None for slot in PERSONAL)


@pytest.mark.parametrize(
    "action", [applications.ActionClearApplication(), withdrawal.ActionOfferWithdrawal()]
)
async def test_leaving_while_the_store_cannot_say_is_honest_and_forgets(
    store_client: StoreClient, action: Any
):
    slots, messages = await leave(action, after_unavailable())
    assert "不能确定" in messages[0] and "没有提交" not in messages[0]
    assert all(slots[slot] is None for slot in PERSONAL)
    assert slots["application_outcome"] is None


def played_after_submission(outcome: str) -> str:
    """The response the rules play after a submission with this outcome."""
    rules = yaml.safe_load((ROOT / "bot/data/core/applications.yml").read_text("utf-8"))
    for rule in rules["rules"]:
        steps = rule["steps"]
        if steps[:2] == [
            {"action": "action_submit_application"},
            {"slot_was_set": [{"application_outcome": outcome}]},
        ]:
            return steps[2]["action"]
    raise AssertionError(f"no rule answers the outcome {outcome}")


async def test_a_second_application_of_one_person_is_submitted_like_any_other(
    store_client: StoreClient, tmp_path: Path
):
    """The store flags it for staff instead of refusing: the resident who applies gets
    the same answer whether or not someone applied before (who may be a stranger)."""
    port = int(store_client.base_url.rsplit(":", 1)[1])
    server = start_test_store(tmp_path, port)
    try:
        # A daughter applied last week; her brother applies again for their mother.
        earlier = await store_client.create_application(
            service_type="elderly_card", applicant_name="王秀英", id_number=SENIOR_ID,
            phone="13987654321", township="牛佛镇", channel="wechat",
            conversation_id="wechat:daughter", idempotency_key="key-daughter",
            privacy_notice="2026-11",
        )  # fmt: skip
        slots = await submit(confirmed_application(submission_key="key-son"))
        made = await store_client.list_for_conversation("rest:resident-7")
    finally:
        server.stop()
    assert slots["application_outcome"] == "submitted"
    assert [item.tracking_number for item in made] == [slots["tracking_number"]]
    assert slots["tracking_number"] != earlier.tracking_number
    assert played_after_submission("submitted") == "utter_application_submitted"
    assert set(DOMAIN["slots"]["application_outcome"]["values"]) == {
        "submitted", "unavailable", "refused", "gave_up", "stopped"
    }  # fmt: skip


@pytest.mark.parametrize(
    "refused",
    [
        {"id_number": "510304198001010023"},  # 46 years old: no elderly card
        {"township": "自流井区"},  # another district of 自贡
        {"phone": "12012345678"},  # no mainland mobile number
    ],
)
async def test_a_refused_application_forgets_what_was_typed(
    store_client: StoreClient, tmp_path: Path, refused: dict[str, str]
):
    port = int(store_client.base_url.rsplit(":", 1)[1])
    server = start_test_store(tmp_path, port)
    try:
        slots = await submit(confirmed_application(**refused))
        made = await store_client.list_for_conversation("rest:resident-7")
    finally:
        server.stop()
    assert made == [] and slots["application_outcome"] == "refused"
    # The ID and phone typed are not kept in the conversation.
    assert all(slots[slot] is None for slot in (*PERSONAL, "id_number_masked", "phone_masked"))
    [answer] = rendered([{"response": played_after_submission("refused")}])
    assert "没有提交" in answer and "删掉" in answer  # what was typed is not silently lost
    assert "转人工" in answer and "便民服务中心" in answer
