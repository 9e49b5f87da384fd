"""Through the REST channel, against the real model: a digit or a button's own words
pick a button of the last reply; a number typed as an answer stays a number."""

from __future__ import annotations

from tests.e2e.rest import Resident
from tests.e2e.test_application_flow import SENIOR_ID
from tests.servers import Stack


def last_user_text(resident: Resident) -> str:
    events = resident.tracker()["events"]
    return [event["text"] for event in events if event["event"] == "user"][-1]


def test_a_digit_picks_the_first_button_of_the_welcome_menu(stack: Stack):
    resident = Resident(stack)
    resident.say("你好")
    first = resident.buttons[0]["payload"]
    reply = resident.say("1")

    assert last_user_text(resident) == first
    direct = Resident(stack)
    direct.say("你好")
    assert reply == direct.say(first)


def test_a_buttons_title_picks_it(stack: Stack):
    resident = Resident(stack)
    resident.say("你好")
    [progress] = [button for button in resident.buttons if button["title"] == "查办件进度"]
    resident.say("查办件进度。")
    assert last_user_text(resident) == progress["payload"]


def test_a_household_size_is_not_read_as_a_choice(stack: Stack):
    resident = Resident(stack)
    for text in ["我要申请低保", "王秀英", SENIOR_ID, "13812345678"]:
        resident.say(text)
    resident.say("牛佛")
    assert not resident.buttons  # the question offers none
    summary = resident.say("5")
    assert last_user_text(resident) == "5"
    assert "家庭人口：5" in summary
