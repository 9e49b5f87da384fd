"""Properties of the XML reader: whatever arrives, it returns the fields or raises the
channel's own MalformedXml (which the channel answers with 400), and what the channel
writes it reads back."""

from __future__ import annotations

import contextlib
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.wechat.inbound import Inbound
from connectors.wechat.xmlio import MalformedXml, parse_flat_xml, render_text_reply

# What XML 1.0 can carry: no surrogates, none of the control characters it forbids.
# A carriage return is read back as a line feed (XML normalises line ends), so the
# round trips leave it out.
XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="\r\ufffe\uffff",
).filter(lambda c: c in "\t\n" or ord(c) >= 0x20)
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# No time limit per example: the suite shares the machine, and time is not the property.
NO_DEADLINE = settings(deadline=None)
NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,12}\Z")
ENCODINGS = st.sampled_from(["utf-8", "UTF-16", "gbk", "latin-1", "no-such-codec", "", "utf-32"])


def reads_or_refuses(body: bytes | str) -> None:
    try:
        fields = parse_flat_xml(body)
    except MalformedXml:
        return
    assert all(isinstance(v, str) for v in fields.values())
    with contextlib.suppress(MalformedXml):
        Inbound.from_fields(fields)


@NO_DEADLINE
@given(st.binary(max_size=2048))
@example(b"")
@example(b"\xff\xfe<\x00x\x00")
@example(b'<?xml version="1.0" encoding="no-such-codec"?><xml/>')
@example(b"<!DOCTYPE xml [<!ENTITY a SYSTEM 'file:///etc/passwd'>]><xml>&a;</xml>")
def test_any_bytes_are_read_or_refused(body: bytes) -> None:
    reads_or_refuses(body)


@NO_DEADLINE
@given(st.text(max_size=2048))
@example("<xml><a>1</a></xml>\x00")
@example("<xml>\ud800</xml>")
def test_any_text_is_read_or_refused(body: str) -> None:
    reads_or_refuses(body)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """Documents shaped like pushes, with what an attacker may add: declarations with
    any encoding, DTDs, entities, processing instructions, nesting, stray bytes."""
    children = draw(
        st.lists(
            st.tuples(NAMES, st.text(XML_CHARS, max_size=40), st.booleans()),
            max_size=8,
        )
    )
    inner = "".join(
        f"<{tag}><![CDATA[{text.replace(']]>', '')}]]></{tag}>"
        if cdata
        else f"<{tag}>{text}</{tag}>"
        for tag, text, cdata in children
    )
    root = draw(st.sampled_from(["xml", "XML", "root", "xml xmlns='urn:x'"]))
    prefix = draw(
        st.sampled_from(
            [
                "",
                f'<?xml version="1.0" encoding="{draw(ENCODINGS)}"?>',
                '<!DOCTYPE xml [<!ENTITY e "x">]>',
                "<?php echo 1 ?>",
                "<!-- c -->",
            ]
        )
    )
    document = f"{prefix}<{root}>{inner}</{root.split()[0]}>"
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "gbk", "latin-1"]))
    body = document.encode(encoding, errors="replace")
    tail = draw(st.binary(max_size=8))
    return body + tail


@NO_DEADLINE
@given(documents())
def test_push_shaped_documents_are_read_or_refused(body: bytes) -> None:
    reads_or_refuses(body)


@NO_DEADLINE
@given(
    account=st.text(XML_CHARS, min_size=1, max_size=20).filter(str.strip),
    openid=st.text(XML_CHARS, min_size=1, max_size=40).filter(str.strip),
    content=st.text(XML_CHARS, max_size=300),
)
@example(account="gh", openid="o1", content="]]>")
@example(account="gh", openid="o1", content="<xml>&amp;</xml>")
def test_text_replies_read_back(account: str, openid: str, content: str) -> None:
    fields = parse_flat_xml(render_text_reply(account, openid, content))
    assert fields["MsgType"] == "text"
    assert fields["Content"] == _ILLEGAL.sub("", content).replace("]]>", "]] >").strip()
    # A reply goes to the resident (ToUserName) from the account (FromUserName).
    assert (fields["ToUserName"], fields["FromUserName"]) == (openid.strip(), account.strip())
