"""Parsing of the platform's XML with a hardened parser, and rendering of text replies."""

from __future__ import annotations

import re
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from wechatpy.replies import TextReply

# XML 1.0 forbids most control characters; CDATA cannot contain its own terminator.
_ILLEGAL_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class MalformedXml(ValueError):
    """The body is not the flat `<xml>…</xml>` document the platform sends."""


def parse_flat_xml(body: bytes | str) -> dict[str, str]:
    """The child elements of the root `<xml>` as a dict of text.

    wechatpy's `parse_message` uses xmltodict without refusing DTDs, so parsing goes
    through defusedxml, which rejects DTDs and so entity expansion ("billion laughs")
    and external entities.
    """
    try:
        root = fromstring(body, forbid_dtd=True)
    # LookupError: the XML declaration names an encoding Python does not know.
    except (ParseError, DefusedXmlException, ValueError, LookupError) as error:
        raise MalformedXml(type(error).__name__) from None
    if root.tag != "xml":
        raise MalformedXml("root element is not <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


def render_text_reply(account: str, openid: str, content: str) -> str:
    """The passive text reply XML; wechatpy writes it, the content is made XML-safe."""
    content = _ILLEGAL_XML_CHARS.sub("", content).replace("]]>", "]] >")
    return TextReply(source=account, target=openid, content=content).render()
