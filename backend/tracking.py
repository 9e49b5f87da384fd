"""Tracking numbers: DA + local date (YYYYMMDD) + 4-digit daily sequence."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta, timezone

# China has had no daylight saving time since 1991, so a fixed offset is exact and does
# not depend on the host's time zone database.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
PREFIX = "DA"
MAX_DAILY_SEQUENCE = 9999

_TRACKING = re.compile(r"DA(\d{8})(\d{4})")
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―]+")


def local_day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def format_tracking_number(day: date, sequence: int) -> str:
    return f"{PREFIX}{day:%Y%m%d}{sequence:04d}"


def normalize_tracking_number(raw: str) -> str | None:
    """The canonical form of a typed tracking number, or None if it cannot be one.

    Residents type on phones with Chinese input methods: full-width letters and digits,
    lowercase, spaces and dashes are all accepted.
    """
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()
    match = _TRACKING.fullmatch(text)
    if match is None:
        return None
    try:
        datetime.strptime(match.group(1), "%Y%m%d")
    except ValueError:
        return None
    if int(match.group(2)) == 0:
        return None
    return text
