"""Safe-mode (AES) envelopes: decrypting pushed messages and encrypting replies."""

from __future__ import annotations

import base64
import binascii
import secrets
import struct
import time

from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException

from connectors.wechat.signature import sign, verify
from connectors.wechat.xmlio import MalformedXml, parse_flat_xml


class DecryptionFailed(ValueError):
    """The ciphertext was not produced with this account's key and AppID."""


class _SecureRandomPrpCrypto(PrpCrypto):
    # wechatpy draws the 16-byte prefix from `random`; a CSPRNG costs nothing.
    def get_random_string(self) -> str:
        return secrets.token_hex(8)


AES_KEY_ERROR = "WECHAT_ENCODING_AES_KEY must be the 43-character key from the console"


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key behind the 43-character EncodingAESKey."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as error:
        raise ValueError(AES_KEY_ERROR) from error
    if len(key) != 32:
        raise ValueError(AES_KEY_ERROR)
    return key


class EnvelopeCrypto:
    """AES-256-CBC envelopes of one Official Account (wechatpy does the cipher work)."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._token = token
        self._key = decode_aes_key(encoding_aes_key)
        self._app_id = app_id

    def open(self, body: bytes, msg_signature: str | None, timestamp: str, nonce: str) -> str:
        """The inner XML of a pushed envelope after checking `msg_signature`.

        wechatpy's `decrypt_message` is not used: it compares the signature with `!=`
        and parses the envelope with xmltodict.

        Raises MalformedXml for an unreadable envelope, PermissionError for a bad
        signature and DecryptionFailed for ciphertext under another key or AppID.
        """
        envelope = parse_flat_xml(body)
        encrypted = envelope.get("Encrypt")
        if not encrypted:
            raise MalformedXml("no <Encrypt>")
        if not verify(msg_signature, self._token, timestamp, nonce, encrypted):
            raise PermissionError("msg_signature mismatch")
        try:
            return _SecureRandomPrpCrypto(self._key).decrypt(encrypted, self._app_id)
        except InvalidAppIdException:
            raise DecryptionFailed("AppID mismatch") from None
        # A wrong key yields garbage that fails in base64, padding, length or UTF-8.
        except (ValueError, TypeError, IndexError, struct.error) as error:
            raise DecryptionFailed(type(error).__name__) from None

    def seal(self, xml: str, nonce: str, timestamp: str | None = None) -> str:
        """The reply envelope for `xml`, signed with `msg_signature`."""
        timestamp = timestamp or str(int(time.time()))
        encrypted = _SecureRandomPrpCrypto(self._key).encrypt(xml, self._app_id).decode()
        signature = sign(self._token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
