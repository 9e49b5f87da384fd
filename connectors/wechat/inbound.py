"""The pushed message, reduced to what the channel acts on."""

from __future__ import annotations

from dataclasses import dataclass

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
    def dedup_key(self) -> str:
        """MsgId for messages; events have none, so sender and time identify them."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"event:{self.openid}:{self.create_time}:{self.event or self.msg_type}"
