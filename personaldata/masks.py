"""How ID numbers, phone numbers, names and channel identities are shown when shown at all."""

from __future__ import annotations

import hashlib
import re

# An 18-character resident ID number, or a mainland mobile number, in text as people
# write them: digits full-width or not (\d), in groups split by a space or a dash, after
# a letter (「ID510304…」), a mobile with +86 or 0086 before it.
ID_NUMBER_IN_TEXT = re.compile(r"(?<!\d)(?:\d[ \-]?){17}[\dXxＸｘ](?![\dA-Za-z])")
MOBILE_IN_TEXT = re.compile(
    r"(?<!\d)(?:(?:\+|＋|00)?86[ \-]?)?[1１][3-9３-９]\d(?:[ \-]?\d){8}(?!\d)"
)


def mask_id_number(value: str) -> str:
    """5103**********1234: the region and the last four stay readable."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """138****5678."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """王*英, 王* for two characters, first and last kept for longer names."""
    if len(value) <= 1:
        return "*" * len(value)
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_personal_data(text: str) -> str:
    """The text with every ID and mobile number in it masked."""
    text = ID_NUMBER_IN_TEXT.sub(lambda match: mask_id_number(match.group()), text)
    return MOBILE_IN_TEXT.sub(lambda match: mask_phone(match.group()), text)


def pseudonym(identity: str) -> str:
    """A short stable stand-in for a channel identity (an OpenID, a session id) in logs:
    the same resident's lines can be followed, the identity cannot be read back."""
    return "h:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
