"""The pushed message, reduced to what the channel acts on."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.wechat.identity import conversation_id
from connectors.wechat.xmlio import MalformedXml


@dataclass(frozen=True)
class Inbound:
    account: str  # ToUserName: the Official Account's id
    openid: str  # FromUserName: the resident
    msg_type: str
    create_time: str
    msg_id: str | None = None
    content: str | None = None
    recognition: str | None = None
    event: str | None = None
    event_key: str | None = None

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Inbound:
        """Builds the message from parsed XML fields; raises MalformedXml when incomplete."""
        account = fields.get("ToUserName")
        openid = fields.get("FromUserName")
        msg_type = fields.get("MsgType", "").lower()
        if not (account and openid and msg_type):
            raise MalformedXml("ToUserName, FromUserName and MsgType are required")
        return cls(
            account=account,
            openid=openid,
            msg_type=msg_type,
            create_time=fields.get("CreateTime", ""),
            msg_id=fields.get("MsgId") or None,
            content=fields.get("Content"),
            recognition=fields.get("Recognition") or None,
            event=(fields.get("Event") or "").lower() or None,
            event_key=fields.get("EventKey") or None,
        )

    @property
    def conversation(self) -> str:
        return conversation_id(self.openid)

    @property
    def dedup_key(self) -> str:
        """What identifies one push across the platform's retries.

        A MsgId is unique per resident only, so it counts with the OpenID. Events carry
        none: the platform advises sender, time and event, and the menu key tells two
        clicks in one second apart.
        """
        if self.msg_id:
            return f"msg:{self.openid}:{self.msg_id}"
        kind = self.event or self.msg_type
        return f"event:{self.openid}:{self.create_time}:{kind}:{self.event_key or ''}"
