"""What staff are shown of residents' text: ID and phone numbers masked, and the
characters that change how text reads removed (bidirectional overrides and isolates can
make 「zhou」 out of 「uohz」; zero-width characters hide text)."""

from __future__ import annotations

import re

from personaldata.masks import mask_personal_data

_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def plain(text: str) -> str:
    return _INVISIBLE.sub("", text)


def for_staff(text: str) -> str:
    return mask_personal_data(plain(text))
