"""Requests as the WeChat platform would send them, for the tests and the benchmark.

It signs with the account's token, encrypts in safe mode and reads (decrypts and
checks) the channel's replies, so a client can exercise the real channel end to end.
"""

from __future__ import annotations

import secrets
import time

from wechatpy.crypto import PrpCrypto

from connectors.wechat.crypto import decode_aes_key
from connectors.wechat.signature import sign, verify
from connectors.wechat.xmlio import parse_flat_xml


class SimulatedPlatform:
    def __init__(
        self,
        token: str,
        app_id: str | None = None,
        encoding_aes_key: str | None = None,
        account: str = "gh_daan_test",
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.account = account
        self._key = decode_aes_key(encoding_aes_key) if encoding_aes_key else None

    def handshake(self, echostr: str, timestamp: int | None = None) -> dict[str, str]:
        """Query of the URL check (GET)."""
        return {**self._signed_query(timestamp), "echostr": echostr}

    def text(
        self, openid: str, content: str, msg_id: int, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        fields = {"MsgType": "text", "Content": content, "MsgId": str(msg_id)}
        return self.push(openid, fields, timestamp)

    def event(
        self, openid: str, event: str, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        return self.push(openid, {"MsgType": "event", "Event": event}, timestamp)

    def push(
        self, openid: str, fields: dict[str, str], timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Query and body of a message push (POST), encrypted when a key is set."""
        created = str(timestamp or int(time.time()))
        xml = _flat_xml(
            {"ToUserName": self.account, "FromUserName": openid, "CreateTime": created, **fields}
        )
        query = self._signed_query(timestamp)
        if self._key is None:
            return query, xml.encode()
        encrypted = PrpCrypto(self._key).encrypt(xml, self.app_id).decode()
        query["encrypt_type"] = "aes"
        query["msg_signature"] = sign(self.token, query["timestamp"], query["nonce"], encrypted)
        envelope = _flat_xml({"ToUserName": self.account, "Encrypt": encrypted})
        return query, envelope.encode()

    def read_reply(self, body: str) -> dict[str, str] | None:
        """The reply's fields, or None for "no reply"; checks the reply's signature."""
        if body in ("", "success"):
            return None
        fields = parse_flat_xml(body)
        if self._key is None:
            return fields
        signed = (self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
        if not verify(fields["MsgSignature"], *signed):
            raise ValueError("reply msg_signature mismatch")
        return parse_flat_xml(PrpCrypto(self._key).decrypt(fields["Encrypt"], self.app_id))

    def _signed_query(self, timestamp: int | None) -> dict[str, str]:
        stamp = str(timestamp or int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        return {"timestamp": stamp, "nonce": nonce, "signature": sign(self.token, stamp, nonce)}


def _flat_xml(fields: dict[str, str]) -> str:
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
