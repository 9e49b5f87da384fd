"""Office hours for a store process (STORE_OFFICE_HOURS) that hold whatever the real clock
says, since the store reads it: closed all through a test, whatever the day."""

from __future__ import annotations

from datetime import datetime

from bot.actions.plain_time import CHINA_TIME


def closed_all_through_the_test() -> str:
    """One minute of office hours about twelve hours from now."""
    hour = (datetime.now(CHINA_TIME).hour + 12) % 24
    return f"{hour:02d}:00-{hour:02d}:01"
