"""Message handling in front of the whole assistant: a platform-style request in, the
reply (passive, or through the customer-service API when the model is slower than
the deadline) out, and the resident's conversation `wechat:<OpenID>` as Rasa keeps it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from wechat_harness import WeChatStack, new_openid, response

from connectors.guard import FULL_WIDTH_SLASH
from connectors.options import options_in
from connectors.wechat.channel import SUBSCRIBE_TEXT
from connectors.wechat.delivery import PICKUP_WORDS
from connectors.wechat.identity import conversation_id
from connectors.wechat.render import fit, render
from connectors.wechat.replies import load_replies
from personaldata.masks import pseudonym

OPTIONS_HINT = response("utter_wechat_options_hint")["text"]
MORE_HINT = response("utter_wechat_more_hint")["text"]
MENU = [
    {
        "text": "您好！请问办什么事？",
        "buttons": [
            {"title": "办老年证", "payload": "办老年证"},
            {"title": "查办件进度", "payload": "查进度"},
        ],
    }
]


@pytest.mark.parametrize("mode", ["wechat_safe_mode", "wechat_plaintext"])
async def test_knowledge_base_answer_in_the_reply(
    mode: str, request: pytest.FixtureRequest
) -> None:
    stack: WeChatStack = request.getfixturevalue(mode)
    wechat, openid = stack.platform, new_openid()
    answer = response("utter_faq/subsistence_materials")
    status, body = await stack.post(*wechat.text(openid, "低保要带啥子材料", 9001))
    assert status == 200
    reply = wechat.read_reply(body)
    if reply is not None:
        assert (reply["MsgType"], reply["ToUserName"]) == ("text", openid)
        assert reply["FromUserName"] == wechat.account
    content = await stack.answer(openid, body)
    assert content.startswith(answer["text"])
    assert f"1. {answer['buttons'][0]['title']}" in content
    assert content.endswith(OPTIONS_HINT)
    assert len(content.encode()) <= 2048
    [event] = [e for e in await stack.events(openid) if e["event"] == "user"]
    assert (event["text"], event["message_id"], event["input_channel"]) == (
        "低保要带啥子材料",
        "9001",
        "wechat",
    )


async def test_same_msgid_three_times_is_processed_once(wechat_safe_mode: WeChatStack) -> None:
    stack, openid = wechat_safe_mode, new_openid()
    request = stack.platform.text(openid, "老年证咋个办", 9002)
    # The first two overlap (a retry while Rasa works), the third comes afterwards.
    first, second = await asyncio.gather(stack.post(*request), stack.post(*request))
    third = await stack.post(*request)
    replies = [stack.platform.read_reply(body) for _, body in (first, second, third)]
    answered = [reply["Content"] for reply in replies if reply and reply.get("Content")]
    assert len(answered) <= 1
    if not answered:  # later than the deadline: the answer came through the API
        await stack.api.next_message(openid)
    assert await stack.user_texts(openid) == ["老年证咋个办"]


async def test_command_prefix_is_neutralised(wechat_safe_mode: WeChatStack) -> None:
    openid = new_openid()
    await wechat_safe_mode.ask(openid, '/inform{"id_number": "1"}', 9003)
    [text] = await wechat_safe_mode.user_texts(openid)
    assert text == FULL_WIDTH_SLASH + 'inform{"id_number": "1"}'


async def test_voice_uses_recognition_or_asks_again(wechat_safe_mode: WeChatStack) -> None:
    stack, openid = wechat_safe_mode, new_openid()
    recognised = {"MsgType": "voice", "MediaId": "m1", "Recognition": "你好", "MsgId": "9004"}
    unclear = {"MsgType": "voice", "MediaId": "m2", "MsgId": "9005"}
    _, first = await stack.post(*stack.platform.push(openid, recognised))
    assert (await stack.answer(openid, first)).startswith(response("utter_greet")["text"])
    _, second = await stack.post(*stack.platform.push(openid, unclear))
    assert (
        stack.platform.read_reply(second)["Content"]
        == response("utter_wechat_voice_unclear")["text"]
    )
    assert await stack.user_texts(openid) == ["你好"]


async def test_image_gets_a_short_answer(wechat_safe_mode: WeChatStack) -> None:
    stack, openid = wechat_safe_mode, new_openid()
    image = {"MsgType": "image", "PicUrl": "http://x/y.jpg", "MediaId": "m", "MsgId": "9006"}
    _, body = await stack.post(*stack.platform.push(openid, image))
    assert stack.platform.read_reply(body)["Content"] == response("utter_wechat_image")["text"]
    assert await stack.user_texts(openid) == []


async def test_buttons_become_numbered_options_and_a_digit_picks_one(
    wechat_safe_mode: WeChatStack,
) -> None:
    stack, openid = wechat_safe_mode, new_openid()
    greeting = await stack.ask(openid, "你好", 9007)
    assert "1. 办老年证\n2. 查办件进度" in greeting
    assert greeting.endswith(OPTIONS_HINT)
    await stack.ask(openid, "２", 9008)
    assert await stack.user_texts(openid) == ["你好", "查进度"]


async def test_a_title_picks_too_until_the_resident_unsubscribes(
    wechat_plaintext: WeChatStack,
) -> None:
    stack, openid = wechat_plaintext, new_openid()
    await stack.ask(openid, "你好", 9101)
    await stack.ask(openid, "查办件进度", 9102)
    await stack.ask(openid, "你好", 9103)
    status, body = await stack.post(*stack.platform.event(openid, "unsubscribe"))
    assert (status, body) == (200, "success")
    # The conversation and the options it offered are gone: "1" is just text now.
    await stack.ask(openid, "1", 9104)
    assert await stack.user_texts(openid) == ["1"]


async def test_subscribe_and_scanning_the_qr_code_get_the_welcome_menu(
    wechat_safe_mode: WeChatStack,
) -> None:
    stack = wechat_safe_mode
    for event, key in (("subscribe", None), ("SCAN", "centre-niufo")):
        openid = new_openid()
        _, body = await stack.post(*stack.platform.event(openid, event, key=key))
        assert "1. 办老年证" in await stack.answer(openid, body)
        [turn] = [e for e in await stack.events(openid) if e["event"] == "user"]
        assert (turn["text"], turn["parse_data"]["intent"]["name"]) == (SUBSCRIBE_TEXT, "greet")


async def test_a_menu_click_asks_the_item_question(wechat_safe_mode: WeChatStack) -> None:
    stack, openid = wechat_safe_mode, new_openid()
    _, body = await stack.post(*stack.platform.event(openid, "CLICK", key="你好"))
    assert (await stack.answer(openid, body)).startswith(response("utter_greet")["text"])
    # A key is the resident's words: it is screened like anything they type.
    _, body = await stack.post(*stack.platform.event(openid, "CLICK", key="/restart"))
    await stack.answer(openid, body)
    assert await stack.user_texts(openid) == ["你好", f"{FULL_WIDTH_SLASH}restart"]


@pytest.mark.parametrize("event", ["VIEW", "LOCATION"])
async def test_menu_links_and_location_reports_need_no_answer(
    event: str, wechat_safe_mode: WeChatStack
) -> None:
    openid = new_openid()
    status, body = await wechat_safe_mode.post(*wechat_safe_mode.platform.event(openid, event))
    assert (status, body) == (200, "success")
    assert await wechat_safe_mode.user_texts(openid) == []


async def test_unsubscribe_deletes_the_conversation(wechat_safe_mode: WeChatStack) -> None:
    stack, leaving, staying = wechat_safe_mode, new_openid(), new_openid()
    await stack.ask(leaving, "低保咋个办", 9201)
    await stack.ask(staying, "低保咋个办", 9202)
    status, body = await stack.post(*stack.platform.event(leaving, "unsubscribe"))
    assert (status, body) == (200, "success")
    assert await stack.user_texts(leaving) == []
    assert await stack.user_texts(staying) == ["低保咋个办"]
    log = stack.stack.logs["rasa-0"].read_text(encoding="utf-8")
    line = f"WeChat resident {pseudonym(conversation_id(leaving))} unsubscribed"
    assert f"{line}: conversation data deleted" in log
    assert leaving not in log and staying not in log


async def test_http_api_output_channel_reaches_the_resident(wechat_safe_mode: WeChatStack) -> None:
    stack, openid = wechat_safe_mode, new_openid()
    base, token = stack.stack.rasa_url, stack.stack.api_token
    params = {"output_channel": "wechat", "token": token}
    async with aiohttp.ClientSession() as http:
        # Another channel's conversation has no OpenID: nothing goes to WeChat for it.
        url = f"{base}/conversations/rest:{openid}/trigger_intent"
        async with http.post(url, params=params, json={"name": "greet"}) as reply:
            assert reply.status == 200
        url = f"{base}/conversations/{conversation_id(openid)}/trigger_intent"
        async with http.post(url, params=params, json={"name": "greet"}) as reply:
            assert reply.status == 200
    assert "1. 办老年证" in await stack.api.next_message(openid)
    assert [sent["touser"] for sent in stack.api.sent if openid in sent["touser"]] == [openid]


def test_long_answers_are_cut_within_the_platform_limit() -> None:
    text = "\n".join(f"第{i}条：" + "材料说明" * 20 for i in range(40))
    head, rest = fit(text, 2000, MORE_HINT)
    assert len(head.encode()) <= 2000
    assert head.endswith(f"\n{MORE_HINT}")
    assert rest and text.startswith(head.removesuffix(f"\n{MORE_HINT}")) and text.endswith(rest)


def test_options_are_numbered_in_the_order_a_digit_picks_them() -> None:
    card = {"title": "便民服务中心", "subtitle": "牛佛镇", "buttons": [{"title": "导航"}]}
    messages = [
        *MENU,
        {"text": "附近的中心", "elements": [card], "buttons": [{"title": "换一个"}]},
        {"text": "还有别的吗？", "quick_replies": [{"title": "没有了"}]},
    ]
    text = render(messages, OPTIONS_HINT)
    offered = options_in(messages)
    assert [option.payload for option in offered] == [
        "办老年证",
        "查进度",
        "导航",
        "换一个",
        "没有了",
    ]
    for number, option in enumerate(offered, start=1):
        assert f"\n{number}. {option.title}\n" in f"\n{text}\n"


def test_user_message_keeps_msgid_as_message_id() -> None:
    assert UserMessage("x", message_id=123).message_id == "123"


def test_a_missing_response_stops_the_channel(tmp_path: Path) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text("responses:\n  utter_wechat_wait:\n  - text: 稍等\n", encoding="utf-8")
    with pytest.raises(ValueError, match="utter_wechat_voice_unclear"):
        load_replies(domain)


def test_late_answer_prompts_name_the_word_that_picks_it_up() -> None:
    replies = load_replies()
    for prompt in (replies.wait, replies.more_hint):
        assert any(f"「{word}」" in prompt for word in PICKUP_WORDS)
