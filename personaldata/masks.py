"""How ID numbers, phone numbers, names and channel identities are shown when shown at all."""

from __future__ import annotations

import hashlib
import re

# An 18-character resident ID number, or a mainland mobile number, standing alone in text.
ID_NUMBER_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
MOBILE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])")


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
