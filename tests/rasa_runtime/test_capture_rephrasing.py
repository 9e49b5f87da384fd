"""A captured turn names the captured turn just before it (`follows`), and a turn answered
inside an application form is counted as `form`, not as a question answered.

A second trial found the store grouping a rephrasing with any question of the last ten
minutes (four answered turns came in between), and the dashboard counting names, ID
numbers and 「对的」 as questions answered directly.
"""

from __future__ import annotations

from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event, SlotSet

from rasa_runtime.turns import CLARIFY_LIFETIME_SECONDS, Capture, TurnEnded, TurnWatcher
from tests.rasa_runtime.capture_turns import (
    ELIGIBILITY,
    ELIGIBILITY_TITLE,
    answer_turn,
    clarify_turn,
    core_fallback_turn,
    fallback_turn,
    handoff_turn,
    listen,
    out_of_scope_turn,
    said,
    user,
)
from tests.rasa_runtime.test_capture_turns import observe, only_capture


def captured(watcher: TurnWatcher, turn: list[Event], sender: str | None = None) -> Capture:
    items = observe(watcher, turn, sender) if sender else observe(watcher, turn)
    return only_capture([item for item in items if isinstance(item, Capture)])


def test_a_rephrasing_after_the_fallback_follows_it() -> None:
    watcher = TurnWatcher()
    first = captured(watcher, fallback_turn("我们小区电梯天天坏 物业不管 找哪个"))
    second = captured(watcher, core_fallback_turn("电梯老是关人 哪个部门管嘛"))
    assert first.body()["follows"] is None
    assert second.follows == first.capture_id
    assert second.body()["follows"] == first.capture_id


def test_each_captured_turn_follows_the_one_just_before_whatever_its_reason() -> None:
    watcher = TurnWatcher()
    referral = captured(watcher, out_of_scope_turn("青苗费咋个赔"))
    clarified = captured(watcher, clarify_turn("修路占了地 青苗补偿找哪个要"))
    fallback = captured(watcher, fallback_turn("青苗费好久赔哦"))
    person = captured(watcher, handoff_turn())
    assert clarified.follows == referral.capture_id
    assert fallback.follows == clarified.capture_id
    assert person.follows == fallback.capture_id


def test_an_answered_turn_in_between_breaks_the_chain() -> None:
    watcher = TurnWatcher()
    captured(watcher, fallback_turn("还有就是交了好久能用"))
    assert observe(watcher, answer_turn("低保要带啥子材料")) == []
    assert captured(watcher, fallback_turn("方便 你打嘛")).follows is None


def test_a_did_you_mean_pressed_and_answered_breaks_the_chain() -> None:
    watcher = TurnWatcher()
    captured(watcher, clarify_turn())
    observe(watcher, answer_turn(ELIGIBILITY_TITLE, ELIGIBILITY, ELIGIBILITY_TITLE))
    assert captured(watcher, fallback_turn()).follows is None


def test_an_answer_inside_a_form_breaks_the_chain() -> None:
    watcher = TurnWatcher()
    captured(watcher, fallback_turn())
    observe(watcher, form_started())
    assert captured(watcher, fallback_turn()).follows is None


def test_other_conversations_do_not_chain() -> None:
    watcher = TurnWatcher()
    captured(watcher, fallback_turn(), "rest:resident-1")
    assert captured(watcher, fallback_turn(), "rest:resident-2").follows is None


def test_a_rephrasing_after_the_session_ended_follows_nothing() -> None:
    now = [1000.0]
    watcher = TurnWatcher(clock=lambda: now[0])
    captured(watcher, fallback_turn())
    now[0] += CLARIFY_LIFETIME_SECONDS + 1
    assert captured(watcher, fallback_turn()).follows is None


# Turn counts inside a form.


def form_started(text: str = "我要办老年证") -> list[Event]:
    return [
        user(text, intent="apply_elderly_card", confidence=0.96),
        ActionExecuted("action_start_application"),
        ActionExecuted("elderly_card_form"),
        ActiveLoop("elderly_card_form"),
        said("utter_ask_applicant_name", "请告诉我申请人的姓名。"),
        listen(),
    ]


def form_answer(text: str, next_question: tuple[str, str]) -> list[Event]:
    return [
        user(text, intent="inform", confidence=0.82),
        ActionExecuted("elderly_card_form"),
        said(*next_question),
        listen(),
    ]


def form_submitted(text: str = "对的") -> list[Event]:
    return [
        user(text, intent="affirm", confidence=0.99),
        ActionExecuted("elderly_card_form"),
        SlotSet("confirmed", True),
        ActiveLoop(None),
        ActionExecuted("action_submit_application"),
        said("utter_application_submitted", "已提交！办件编号：DA202612010001"),
        listen(),
    ]


def test_answers_inside_a_form_are_counted_as_form_not_as_questions() -> None:
    outcomes: list[str] = []
    watcher = TurnWatcher(on_turn=lambda turn: outcomes.append(turn.outcome))
    for turn in (
        form_started(),
        form_answer("王秀英", ("utter_ask_id_number", "请发申请人的18位身份证号码。")),
        form_answer("510304195503120042", ("utter_ask_phone", "请留一个能联系上的手机号码。")),
        # A question inside the form answered from the knowledge base is a question.
        answer_turn("低保要带啥子材料"),
        form_answer("13812345678", ("utter_ask_township", "申请人户口在哪个镇或街道？")),
        form_answer("牛佛", ("utter_ask_confirmed", "请核对：…")),
        form_submitted("对的"),
        answer_turn("老年证有啥子用"),
    ):
        observe(watcher, turn)
    assert outcomes == [
        "answered",  # the request that opened the form
        "form",
        "form",
        "answered",
        "form",
        "form",
        "form",  # 「对的」 answers the summary, though the form ends in that turn
        "answered",
    ]


def test_a_fallback_inside_a_form_is_still_counted_as_a_fallback() -> None:
    turns: list[TurnEnded] = []
    watcher = TurnWatcher(on_turn=turns.append)
    observe(watcher, form_started())
    captured(watcher, fallback_turn("你问这个做啥子"))
    assert turns[-1].outcome == "fallback"
