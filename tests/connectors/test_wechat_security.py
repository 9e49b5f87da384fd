"""Authentication and hardening, in front of the whole assistant: every bad request is
refused before it reaches a conversation, and one resident's message is never taken
for another's. Expected signatures and window edges are written out by hand."""

from __future__ import annotations

import time

import pytest
from wechat_harness import (
    AES_KEY,
    APP_ID,
    OTHER_AES_KEY,
    TOKEN,
    RecordingRasa,
    StubAgent,
    WeChatStack,
    new_openid,
    platform,
    response,
    serve_channel,
)
from wechatpy.crypto import PrpCrypto

from connectors.wechat.channel import WeChatInput
from connectors.wechat.crypto import decode_aes_key
from connectors.wechat.signature import is_fresh, sign, verify

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&c;</Content><MsgId>1</MsgId></xml>"
)
# The platform's documented example: token AAAAA, timestamp 1714036504, nonce 1514711492.
SIGNED = ("AAAAA", "1714036504", "1514711492")
SIGNATURE = "f464b24fc39322e44b38aa78f5edd27bd1441696"
MODES = ["wechat_safe_mode", "wechat_plaintext"]


def test_official_signature_vector() -> None:
    # sha1 of the parts sorted as strings, "15147114921714036504AAAAA".
    assert sign(*SIGNED) == SIGNATURE
    assert sign("AAAAA", "1514711492", "1714036504") == SIGNATURE
    assert verify(SIGNATURE, *SIGNED)


@pytest.mark.parametrize(
    "given",
    [
        "f464b24fc39322e44b38aa78f5edd27bd144169",  # one character short
        "f464b24fc39322e44b38",  # the first half
        "f",
        "",
        None,
        "f464b24fc39322e44b38aa78f5edd27bd14416960",  # one character more
        "464b24fc39322e44b38aa78f5edd27bd1441696",  # the first character dropped
        "f464b24fc39322e44b38aa78f5edd27bd1441697",  # the last one wrong
        "F464B24FC39322E44B38AA78F5EDD27BD1441696",
        "4351ed9123478ed3c5aa2472c192fd44f6e1a333",  # the parts joined unsorted
        "签名",
    ],
)
def test_only_the_whole_signature_verifies(given: str | None) -> None:
    assert not verify(given, *SIGNED)


@pytest.mark.parametrize(
    ("timestamp", "fresh"),
    [
        ("1714036504", True),  # now
        ("1714036204", True),  # 300 s old: the edge of the window
        ("1714036203", False),  # 301 s old
        ("1714036804", True),  # 300 s ahead
        ("1714036805", False),  # 301 s ahead
        ("1714035904", False),  # one window further back
        ("1714037104", False),  # one window further ahead
        ("１７１４０３６５０４", False),  # full-width digits
        ("1714036504.0", False),
        ("-1714036504", False),
        ("0001714036504", False),  # too long to be a timestamp
        ("", False),
        (None, False),
    ],
)
def test_freshness_window_edges(timestamp: str | None, fresh: bool) -> None:
    assert is_fresh(timestamp, 1_714_036_504.0, 300) is fresh


async def test_handshake(wechat_safe_mode: WeChatStack) -> None:
    wechat = wechat_safe_mode.platform
    assert await wechat_safe_mode.get(wechat.handshake("echo-1714")) == (200, "echo-1714")
    forged = {**wechat.handshake("x"), "signature": "0" * 40}
    assert (await wechat_safe_mode.get(forged))[0] == 403
    stale = wechat.handshake("x", timestamp=int(time.time()) - 301)
    assert (await wechat_safe_mode.get(stale))[0] == 403


async def test_channel_is_off_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    rasa = RecordingRasa()
    monkeypatch.delenv("WECHAT_TOKEN", raising=False)
    channel = WeChatInput.from_credentials(None)
    assert channel.get_output_channel() is None
    async with serve_channel(channel, StubAgent(rasa)) as webhook:
        query, body = platform(aes=False).text(new_openid(), "你好", 1)
        assert (await webhook.post(query, body))[0] == 404
    assert rasa.calls == []


@pytest.mark.parametrize("mode", MODES)
async def test_forged_and_stale_requests_are_refused(
    mode: str, request: pytest.FixtureRequest
) -> None:
    stack: WeChatStack = request.getfixturevalue(mode)
    wechat, openid = stack.platform, new_openid()
    query, body = wechat.text(openid, "你好", 101)
    key = "msg_signature" if mode == "wechat_safe_mode" else "signature"
    assert (await stack.post({**query, key: "f" * 40}, body))[0] == 403
    assert (await stack.post({**query, key: query.get(key, "")[:20]}, body))[0] == 403

    query, body = wechat.text(openid, "你好", 102, timestamp=int(time.time()) - 400)
    assert (await stack.post(query, body))[0] == 403

    # The token is right but the message was encrypted under someone else's key.
    query, body = platform(key=OTHER_AES_KEY).text(openid, "你好", 103)
    assert (await stack.post(query, body))[0] == 403
    assert await stack.user_texts(openid) == []


async def test_plaintext_is_refused_in_safe_mode(wechat_safe_mode: WeChatStack) -> None:
    openid = new_openid()
    query, body = platform(aes=False).text(openid, "你好", 201)
    assert (await wechat_safe_mode.post(query, body))[0] == 403
    assert await wechat_safe_mode.user_texts(openid) == []


async def test_a_captured_plaintext_query_cannot_carry_another_body(
    wechat_plaintext: WeChatStack,
) -> None:
    wechat, openid = wechat_plaintext.platform, new_openid()
    query, body = wechat.text(openid, "你好", 301)
    status, reply = await wechat_plaintext.post(query, body)
    assert status == 200
    await wechat_plaintext.answer(openid, reply)
    _, forged = wechat.text(openid, "/restart", 302)
    assert (await wechat_plaintext.post(query, forged))[0] == 403
    assert await wechat_plaintext.user_texts(openid) == ["你好"]


@pytest.mark.parametrize("mode", MODES)
async def test_malformed_oversized_and_entity_xml_are_refused(
    mode: str, request: pytest.FixtureRequest
) -> None:
    stack: WeChatStack = request.getfixturevalue(mode)
    wechat, openid = stack.platform, new_openid()
    # Bigger than the 64 KiB a pushed message can take, encrypted or not.
    query, big = wechat.text(openid, "字" * 30_000, 402)
    assert (await stack.post(query, big))[0] == 413
    query, _ = wechat.text(openid, "你好", 401)
    if mode == "wechat_plaintext":
        assert (await stack.post(query, b"<xml><Content>"))[0] == 400
        query, _ = wechat.text(openid, "", 0)
        unknown = b'<?xml version="1.0" encoding="no-such-codec"?><xml/>'
        assert (await stack.post(query, unknown))[0] == 400
        query, _ = wechat.text(openid, "", 0)
        assert (await stack.post(query, BILLION_LAUGHS.encode()))[0] == 400
    else:
        assert (await stack.post(query, b"<xml><Encrypt>"))[0] == 400
        # Properly encrypted and signed, but the inner document declares entities.
        assert (await stack.post(*_encrypt_raw(BILLION_LAUGHS)))[0] == 400
    assert await stack.user_texts(openid) == []


async def test_a_msgid_belongs_to_one_resident(wechat_safe_mode: WeChatStack) -> None:
    """Another resident's message with the same MsgId is theirs, answered to them."""
    first, second = new_openid(), new_openid()
    mine = await wechat_safe_mode.ask(first, "低保要带啥子材料", 4242)
    theirs = await wechat_safe_mode.ask(second, "你好", 4242)
    assert mine.startswith(response("utter_faq/subsistence_materials")["text"])
    assert theirs.startswith(response("utter_greet")["text"])
    assert await wechat_safe_mode.user_texts(first) == ["低保要带啥子材料"]
    assert await wechat_safe_mode.user_texts(second) == ["你好"]


def _encrypt_raw(xml: str) -> tuple[dict[str, str], bytes]:
    """A platform-style envelope around arbitrary inner XML."""
    query, _ = platform().text(new_openid(), "", 0)
    encrypted = PrpCrypto(decode_aes_key(AES_KEY)).encrypt(xml, APP_ID).decode()
    query["msg_signature"] = sign(TOKEN, query["timestamp"], query["nonce"], encrypted)
    return query, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
