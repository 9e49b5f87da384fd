"""Office hours of the service centres, on China's working days.

Working days come from `chinesecalendar` (public holidays and the weekend days made
working days, as the State Council announces them each year). For a year the installed
release does not cover yet, Monday to Friday are taken as working days and
`covered(year)` says so, so that the console can warn until the library is updated.
The hours are configuration (STORE_OFFICE_HOURS, e.g. "09:00-12:00,14:00-17:30"; the
district's own hours are to be confirmed by its centres).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import chinese_calendar

from backend.tracking import CHINA_TZ

_PERIOD = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
# Far enough to cross any holiday (the longest, Spring Festival, is 8–9 days).
_SEARCH_DAYS = 40


def covered(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The working day `days` working days after `start` (deadlines in working days)."""
    day = start
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_before(end: date, days: int) -> date:
    """The working day `days` working days before `end`."""
    day = end
    remaining = days
    while remaining > 0:
        day -= timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def parse_periods(value: str) -> tuple[tuple[time, time], ...]:
    periods = []
    for part in value.split(","):
        match = _PERIOD.match(part.strip())
        if not match:
            raise ValueError(f"office hours: {part!r} is not HH:MM-HH:MM")
        start = time(int(match[1]), int(match[2]))
        end = time(int(match[3]), int(match[4]))
        if end <= start:
            raise ValueError(f"office hours: {part!r} ends before it starts")
        periods.append((start, end))
    return tuple(sorted(periods))


@dataclass(frozen=True)
class OfficeHours:
    periods: tuple[tuple[time, time], ...]

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(CHINA_TZ)
        if not is_working_day(local.date()):
            return False
        return any(start <= local.time() < end for start, end in self.periods)

    def next_opening(self, moment: datetime) -> datetime:
        """When staff are next at work (the moment itself if they are now)."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(CHINA_TZ)
        for offset in range(_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if not is_working_day(day):
                continue
            for start, _ in self.periods:
                opening = datetime.combine(day, start, CHINA_TZ)
                if opening > local:
                    return opening
        raise ValueError("no working day within the search window")
