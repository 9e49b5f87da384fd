"""Conversations as residents actually write them, through the REST channel only.

Each behaviour of issue 8 is checked end to end against the real store, actions and
model, in Mandarin and Sichuanese, with other words than the issue quoted.
"""

from __future__ import annotations

import pytest

from tests.e2e.rest import Resident, tracking_number_in
from tests.e2e.test_application_flow import (
    SENIOR_ID,
    conversation_of,
    list_applications,
    move,
    tracker_of,
)
from tests.servers import Stack

OTHER_SENIOR_ID = "510304195203150025"  # born 1952


def submitted_elderly_card(resident: Resident) -> str:
    resident.say(f"帮我妈办老年证 她叫王秀英 身份证{resident.id_number} 电话13812345678 住在牛佛镇")
    return tracking_number_in(resident.say("对的"))


@pytest.mark.parametrize(
    "opening",
    [
        f"帮我办老年证 我叫李德明 身份证{SENIOR_ID} 电话13812345678 住在大山铺",
        f"给我老汉儿申请个老年证嘛，他叫李德明，身份证号{SENIOR_ID}，手机13812345678，户口在大山铺镇",
    ],
)
def test_an_application_given_in_one_message_goes_straight_to_the_summary(
    stack: Stack, opening: str
):
    resident = Resident(stack)
    summary = resident.say(opening)
    assert "请核对" in summary
    assert "李德明" in summary and "5103**********0042" in summary
    assert "138****5678" in summary and "大山铺镇" in summary


def test_an_id_and_a_phone_in_one_answer_are_not_asked_again(stack: Stack):
    resident = Resident(stack)
    resident.say("我要办老年证")
    resident.say("刘淑琴")
    reply = resident.say(f"{SENIOR_ID} 13812345678")
    assert "手机号" not in reply and "哪个镇或街道" in reply


@pytest.mark.parametrize(
    "correction, shown",
    [("不对 是5个人", "家庭人口：5"), ("人数搞错了 屋头六个人", "家庭人口：6")],
)
def test_the_household_size_is_corrected_at_the_summary(stack: Stack, correction: str, shown: str):
    resident = Resident(stack)
    resident.say(f"我想申请低保 我叫王秀英 身份证{SENIOR_ID} 电话13812345678 住在何市镇")
    assert "家庭人口：3" in resident.say("3")
    assert shown in resident.say(correction)


@pytest.mark.parametrize("name", ["我老汉儿", "隔壁王嬢嬢", "屋头三个人"])
def test_a_relation_is_not_accepted_as_the_applicants_name(stack: Stack, name: str):
    resident = Resident(stack)
    resident.say("我要办老年证")
    assert "不是称呼" in resident.say(name)


@pytest.mark.parametrize(
    "place, full", [("马冲口街道", "马冲口街道"), ("凉高山", "凉高山街道"), ("凤凰乡", "凤凰街道")]
)
def test_residents_of_every_street_and_town_can_apply(stack: Stack, place: str, full: str):
    resident = Resident(stack)
    resident.say("我要办老年证")
    resident.say("王秀英")
    resident.say(SENIOR_ID)
    resident.say("13812345678")
    summary = resident.say(place)
    assert "请核对" in summary and f"乡镇：{full}" in summary


@pytest.mark.parametrize("withdraw", ["我那个申请不想办了 咋个撤回", "刚才交的申请我想撤销"])
def test_an_application_just_submitted_can_be_withdrawn_honestly(stack: Stack, withdraw: str):
    resident = Resident(stack)
    number = submitted_elderly_card(resident)
    question = resident.say(withdraw)
    assert number in question and "没有办任何事" not in question
    assert "已撤回" in resident.say("确认撤回")
    assert list_applications(stack, conversation_of(resident))[0]["status"] == "withdrawn"
    assert "已撤回" in resident.say("查进度")


@pytest.mark.parametrize("again", ["撤回{number}", "撤回 {number} 嘛", "撤回"])
def test_the_withdrawal_asked_again_at_its_confirmation_withdraws(stack: Stack, again: str):
    # A second trial's 「撤回DA202612010003」 at 「确定要撤回…吗？」 was read as no.
    resident = Resident(stack)
    number = submitted_elderly_card(resident)
    assert number in resident.say("哎呀 我是说不办了 咋个交上去了")
    assert "已撤回" in resident.say(again.format(number=number))
    assert list_applications(stack, conversation_of(resident))[0]["status"] == "withdrawn"


def test_changing_ones_mind_keeps_the_application(stack: Stack):
    resident = Resident(stack)
    number = submitted_elderly_card(resident)
    assert number in resident.say("不想办了")
    assert "没有撤回" in resident.say("不撤回")
    assert list_applications(stack, conversation_of(resident))[0]["status"] == "submitted"


def test_another_conversation_withdraws_only_with_proof(stack: Stack):
    owner = Resident(stack)
    number = submitted_elderly_card(owner)
    stranger = Resident(stack)
    assert "后4位" in stranger.say(f"撤回{number}")
    stranger.say(owner.id_number[-4:])
    assert "已撤回" in stranger.say("确认撤回")


def test_an_approved_application_is_not_withdrawn(stack: Stack):
    resident = Resident(stack)
    number = submitted_elderly_card(resident)
    for status in ("township_review", "district_review", "approved"):
        move(stack, number, status)
    reply = resident.say("我不想办了")
    assert "不能撤回" in reply and "没有办任何事" not in reply


@pytest.mark.parametrize("leave", ["算了", "不查了", "转人工", "你好"])
def test_a_status_lookup_can_always_be_left(stack: Stack, leave: str):
    resident = Resident(stack)
    assert "办件编号" in resident.say("查一下我的办件进度")
    reply = resident.say(leave)
    assert "请发办件编号" not in reply


def test_a_resident_without_the_number_finds_their_applications(stack: Stack):
    owner = Resident(stack)
    number = submitted_elderly_card(owner)
    later = Resident(stack)
    later.say("查进度")
    assert "身份证" in later.say("编号忘了")
    later.say(owner.id_number)
    reply = later.say("13812345678")
    assert number in reply
    assert owner.id_number not in reply


@pytest.mark.parametrize(
    "message",
    [
        "屋头遭火烧了 啥子都莫得了 咋个办",
        "家里着火了东西全烧光了人没事现在怎么办",
        "昨天晚上涨大水把我屋头淹了 被子粮食全部泡了",
    ],
)
def test_an_emergency_gets_urgent_advice_and_relief(stack: Stack, message: str):
    resident = Resident(stack)
    reply = resident.say(message)
    assert "不归" not in reply and "办件编号" not in reply
    assert "119" in reply or "120" in reply
    assert any("临时救助" in button["title"] for button in resident.buttons)


def test_a_house_about_to_collapse_gets_safety_advice_and_renovation(stack: Stack):
    resident = Resident(stack)
    reply = resident.say("我屋头后墙裂了好宽的缝 房子怕要垮了 咋个办嘛")
    assert "离开" in reply
    assert any("危房" in button["title"] for button in resident.buttons)


def test_switching_application_does_not_carry_the_first_ones_answers(stack: Stack):
    resident = Resident(stack)
    resident.say("我想申请低保")
    resident.say("张德华")
    reply = resident.say("不对 我还是先办老年证")
    assert "姓名" in reply  # asked again: the new application starts clean
    reply = resident.say(f"{OTHER_SENIOR_ID} 13812345678 住在团结镇")
    assert "姓名" in reply and "张德华" not in reply


def test_the_privacy_notice_comes_before_the_id_is_asked_and_the_full_one_is_a_reply_away(
    stack: Stack,
):
    resident = Resident(stack)
    start = resident.say("我想给我妈办个老年证")
    assert "身份证号" in start and "只用来办这件事" in start and "隐私" in start
    full = resident.say("隐私")
    assert "180天" in full and "删除我的聊天记录" in full
    number = submitted_elderly_card(resident)
    # The store recorded which notice was shown (agreement 5; staff see it).
    assert list_applications(stack, conversation_of(resident))[0]["tracking_number"] == number


@pytest.mark.parametrize("asking", ["删除我的聊天记录", "把我们摆的龙门阵全部删了嘛"])
def test_a_resident_deletes_their_conversation_after_confirming(stack: Stack, asking: str):
    resident = Resident(stack)
    resident.say(f"帮我妈办老年证 她叫王秀英 身份证{SENIOR_ID}")
    assert "删除后找不回来" in resident.say(asking)
    assert "已经删除" in resident.say("确认删除聊天记录")
    said = [e for e in tracker_of(resident)["events"] if e["event"] == "user"]
    assert SENIOR_ID not in str(said)


def test_a_no_keeps_the_conversation(stack: Stack):
    resident = Resident(stack)
    resident.say("老年证有啥子用")
    assert "删除后找不回来" in resident.say("帮我把聊天记录删掉")
    assert "没有删除" in resident.say("不删了")
    said = [e["text"] for e in tracker_of(resident)["events"] if e["event"] == "user"]
    assert "老年证有啥子用" in said
