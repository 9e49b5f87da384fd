"""Safe-mode envelopes on their own: the key format, what `open` refuses and why, and
that sealed replies are exactly what the platform's own client (wechatpy) reads."""

from __future__ import annotations

import base64
import re
import time

import pytest
from wechatpy.crypto import PrpCrypto

from connectors.wechat.crypto import DecryptionFailed, EnvelopeCrypto, decode_aes_key
from connectors.wechat.signature import sign
from connectors.wechat.xmlio import MalformedXml, parse_flat_xml

TOKEN = "envelope-token"
APP_ID = "wx0123456789abcdef"
# The platform's documented example key; its 32 bytes are the base64 of it plus "=".
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
KEY_BYTES = base64.b64decode(AES_KEY + "=")
OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
INNER = "<xml><Content><![CDATA[你好]]></Content></xml>"
KEY_ERROR = "WECHAT_ENCODING_AES_KEY must be the 43-character key from the console"


def envelope(encrypted: str) -> bytes:
    return f"<xml><ToUserName>gh</ToUserName><Encrypt>{encrypted}</Encrypt></xml>".encode()


def test_the_key_is_the_43_characters_plus_padding() -> None:
    assert len(KEY_BYTES) == 32
    assert decode_aes_key(AES_KEY) == KEY_BYTES


@pytest.mark.parametrize(
    "key",
    [
        AES_KEY[:42],
        AES_KEY + "H",
        AES_KEY + "HIJK",  # 47 + "=": not a whole key either
        "!" + AES_KEY,  # a character outside base64 is not skipped
        AES_KEY[:42] + "!",
        "",
    ],
)
def test_other_keys_are_refused_by_name(key: str) -> None:
    with pytest.raises(ValueError, match=f"^{KEY_ERROR}$"):
        decode_aes_key(key)


def test_open_reads_what_the_platform_encrypted() -> None:
    encrypted = PrpCrypto(KEY_BYTES).encrypt(INNER, APP_ID).decode()
    signature = sign(TOKEN, "1714036504", "n1", encrypted)
    opened = EnvelopeCrypto(TOKEN, AES_KEY, APP_ID).open(
        envelope(encrypted), signature, "1714036504", "n1"
    )
    assert opened == INNER


def test_open_checks_the_signature_over_token_timestamp_nonce_and_ciphertext() -> None:
    crypto = EnvelopeCrypto(TOKEN, AES_KEY, APP_ID)
    encrypted = PrpCrypto(KEY_BYTES).encrypt(INNER, APP_ID).decode()
    for signature in (
        sign("another-token", "1714036504", "n1", encrypted),
        sign(TOKEN, "1714036505", "n1", encrypted),
        sign(TOKEN, "1714036504", "n2", encrypted),
        sign(TOKEN, "1714036504", "n1"),
        sign(TOKEN, "1714036504", "n1", encrypted)[:39],
        None,
    ):
        with pytest.raises(PermissionError, match=r"^msg_signature mismatch$"):
            crypto.open(envelope(encrypted), signature, "1714036504", "n1")


@pytest.mark.parametrize("body", [b"<xml><ToUserName>gh</ToUserName></xml>", envelope("")])
def test_an_envelope_without_ciphertext_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedXml, match=r"^no <Encrypt>$"):
        EnvelopeCrypto(TOKEN, AES_KEY, APP_ID).open(body, "0" * 40, "1714036504", "n1")


@pytest.mark.parametrize(
    ("encrypted", "reason"),
    [
        (PrpCrypto(base64.b64decode(OTHER_KEY + "=")).encrypt(INNER, APP_ID).decode(), None),
        (PrpCrypto(KEY_BYTES).encrypt(INNER, "wx-another-account").decode(), "AppID mismatch"),
        ("bm90IGEgY2lwaGVydGV4dA==", None),  # base64, but not whole AES blocks
        ("%%%%", None),
    ],
)
def test_ciphertext_of_another_key_or_account_fails_to_decrypt(
    encrypted: str, reason: str | None
) -> None:
    signature = sign(TOKEN, "1714036504", "n1", encrypted)
    with pytest.raises(DecryptionFailed) as error:
        EnvelopeCrypto(TOKEN, AES_KEY, APP_ID).open(
            envelope(encrypted), signature, "1714036504", "n1"
        )
    if reason:
        assert str(error.value) == reason


def sealed(xml: str, nonce: str, timestamp: str | None = None) -> dict[str, str]:
    reply = EnvelopeCrypto(TOKEN, AES_KEY, APP_ID).seal(xml, nonce, timestamp)
    match = re.fullmatch(
        r"<xml><Encrypt><!\[CDATA\[(?P<Encrypt>[A-Za-z0-9+/=]+)\]\]></Encrypt>"
        r"<MsgSignature><!\[CDATA\[(?P<MsgSignature>[0-9a-f]{40})\]\]></MsgSignature>"
        r"<TimeStamp>(?P<TimeStamp>[0-9]+)</TimeStamp>"
        r"<Nonce><!\[CDATA\[(?P<Nonce>[^\]]*)\]\]></Nonce></xml>",
        reply,
    )
    assert match, reply
    assert parse_flat_xml(reply.encode()) == match.groupdict()
    return match.groupdict()


def test_a_sealed_reply_is_what_the_platform_reads() -> None:
    fields = sealed(INNER, "n-42", "1714036504")
    assert fields["TimeStamp"] == "1714036504"
    assert fields["Nonce"] == "n-42"
    assert fields["MsgSignature"] == sign(TOKEN, "1714036504", "n-42", fields["Encrypt"])
    assert PrpCrypto(KEY_BYTES).decrypt(fields["Encrypt"], APP_ID) == INNER
    # The 16 random bytes in front differ every time.
    assert sealed(INNER, "n-42", "1714036504")["Encrypt"] != fields["Encrypt"]


def test_a_reply_without_a_timestamp_is_stamped_now() -> None:
    before = int(time.time())
    fields = sealed(INNER, "n-43")
    assert before <= int(fields["TimeStamp"]) <= int(time.time())
    assert fields["MsgSignature"] == sign(TOKEN, fields["TimeStamp"], "n-43", fields["Encrypt"])
