"""Authentication and hardening: every bad request is refused before it reaches Rasa."""

from __future__ import annotations

import time

import pytest
from wechat_harness import (
    AES_KEY,
    APP_ID,
    OPENID,
    OTHER_AES_KEY,
    TOKEN,
    RecordingRasa,
    StubAgent,
    make_channel,
    platform,
    serve_channel,
)
from wechatpy.crypto import PrpCrypto

from connectors.wechat import WeChatInput
from connectors.wechat.crypto import decode_aes_key
from connectors.wechat.settings import Limits
from connectors.wechat.signature import is_fresh, sign, verify

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&c;</Content><MsgId>1</MsgId></xml>"
)


def test_official_signature_vector() -> None:
    expected = "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert sign("AAAAA", "1714036504", "1514711492") == expected
    assert verify(expected, "AAAAA", "1714036504", "1514711492")
    assert not verify(expected.upper(), "AAAAA", "1714036504", "1514711492")
    assert not verify("签名", "AAAAA", "1714036504", "1514711492")
    assert not verify(None, "AAAAA", "1714036504", "1514711492")


def test_freshness_window() -> None:
    now = 1_714_036_504.0
    assert is_fresh("1714036504", now, 300)
    assert not is_fresh("1714036000", now, 300)
    assert not is_fresh("1714037000", now, 300)  # far future
    assert not is_fresh("１７１４０３６５０４", now, 300)
    assert not is_fresh("", now, 300)


async def test_handshake() -> None:
    rasa = RecordingRasa()
    wechat = platform()
    async with serve_channel(make_channel(), StubAgent(rasa)) as webhook:
        assert await webhook.get(wechat.handshake("echo-1714")) == (200, "echo-1714")
        forged = {**wechat.handshake("x"), "signature": "0" * 40}
        assert (await webhook.get(forged))[0] == 403
        stale = wechat.handshake("x", timestamp=int(time.time()) - 301)
        assert (await webhook.get(stale))[0] == 403


async def test_channel_is_off_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    rasa = RecordingRasa()
    monkeypatch.delenv("WECHAT_TOKEN", raising=False)
    channel = WeChatInput.from_credentials(None)
    assert channel.get_output_channel() is None
    async with serve_channel(channel, StubAgent(rasa)) as webhook:
        query, body = platform(aes=False).text(OPENID, "你好", 1)
        assert (await webhook.post(query, body))[0] == 404
    assert rasa.calls == []


@pytest.mark.parametrize("aes", [True, False], ids=["aes", "plaintext"])
async def test_forged_and_stale_requests_are_refused(aes: bool) -> None:
    rasa = RecordingRasa()
    wechat = platform(aes)
    async with serve_channel(make_channel(aes), StubAgent(rasa)) as webhook:
        query, body = wechat.text(OPENID, "你好", 101)
        key = "msg_signature" if aes else "signature"
        assert (await webhook.post({**query, key: "f" * 40}, body))[0] == 403

        query, body = wechat.text(OPENID, "你好", 102, timestamp=int(time.time()) - 400)
        assert (await webhook.post(query, body))[0] == 403

        # The token is right but the message was encrypted under someone else's key.
        if aes:
            query, body = platform(key=OTHER_AES_KEY).text(OPENID, "你好", 103)
            assert (await webhook.post(query, body))[0] == 403
    assert rasa.calls == []


async def test_plaintext_is_refused_in_safe_mode() -> None:
    rasa = RecordingRasa()
    async with serve_channel(make_channel(aes=True), StubAgent(rasa)) as webhook:
        query, body = platform(aes=False).text(OPENID, "你好", 201)
        assert (await webhook.post(query, body))[0] == 403
    assert rasa.calls == []


async def test_a_captured_plaintext_query_cannot_carry_another_body() -> None:
    rasa = RecordingRasa()
    wechat = platform(aes=False)
    async with serve_channel(make_channel(aes=False), StubAgent(rasa)) as webhook:
        query, body = wechat.text(OPENID, "你好", 301)
        assert (await webhook.post(query, body))[0] == 200
        _, forged = wechat.text(OPENID, "/restart", 302)
        assert (await webhook.post(query, forged))[0] == 403
    assert [call.text for call in rasa.calls] == ["你好"]


@pytest.mark.parametrize("aes", [True, False], ids=["aes", "plaintext"])
async def test_malformed_oversized_and_entity_xml_are_refused(aes: bool) -> None:
    rasa = RecordingRasa()
    wechat = platform(aes)
    limits = Limits(max_body_bytes=4096)
    async with serve_channel(make_channel(aes, limits=limits), StubAgent(rasa)) as webhook:
        query, _ = wechat.text(OPENID, "你好", 401)
        if not aes:
            assert (await webhook.post(query, b"<xml><Content>"))[0] == 400
            _, big = wechat.text(OPENID, "字" * 2000, 402)
            assert (await webhook.post(wechat.text(OPENID, "", 0)[0], big))[0] == 413
            query, _ = wechat.text(OPENID, "", 0)
            assert (await webhook.post(query, BILLION_LAUGHS.encode()))[0] == 400
        else:
            assert (await webhook.post(query, b"<xml><Encrypt>"))[0] == 400
            query, big = wechat.text(OPENID, "字" * 2000, 402)
            assert (await webhook.post(query, big))[0] == 413
            # Properly encrypted and signed, but the inner document declares entities.
            sealed = _encrypt_raw(BILLION_LAUGHS)
            assert (await webhook.post(*sealed))[0] == 400
    assert rasa.calls == []


def _encrypt_raw(xml: str) -> tuple[dict[str, str], bytes]:
    """A platform-style envelope around arbitrary inner XML."""
    query, _ = platform().text(OPENID, "", 0)
    encrypted = PrpCrypto(decode_aes_key(AES_KEY)).encrypt(xml, APP_ID).decode()
    query["msg_signature"] = sign(TOKEN, query["timestamp"], query["nonce"], encrypted)
    return query, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
