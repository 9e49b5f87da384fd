"""A moment in the words an elderly reader uses: 「明天上午9点」, 「周一下午2点半」.

Only the time is worded here; the sentence around it is a domain response. Times are
read in China Standard Time, the store's and the residents'.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CHINA_TIME = timezone(timedelta(hours=8), "CST")

NEAR_DAYS = {0: "今天", 1: "明天", 2: "后天"}
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
# Within a week a weekday names one day; past it (a long holiday) the date does.
WEEKDAY_RANGE = 6


def when_in_words(moment: datetime, now: datetime) -> str:
    """The day and the time of `moment` as seen from `now`."""
    local, today = moment.astimezone(CHINA_TIME), now.astimezone(CHINA_TIME).date()
    return _day(local, (local.date() - today).days) + _time_of_day(local)


def _day(local: datetime, days_ahead: int) -> str:
    if days_ahead in NEAR_DAYS:
        return NEAR_DAYS[days_ahead]
    if 0 < days_ahead <= WEEKDAY_RANGE:
        return WEEKDAYS[local.weekday()]
    return f"{local.month}月{local.day}日"


def _time_of_day(local: datetime) -> str:
    hour, minute = local.hour, local.minute
    if hour < 12:
        part = "上午"
    elif hour == 12:
        part = "中午"
    elif hour < 18:
        part = "下午"
    else:
        part = "晚上"
    clock = hour if hour <= 12 else hour - 12
    if minute == 0:
        return f"{part}{clock}点"
    if minute == 30:
        return f"{part}{clock}点半"
    return f"{part}{clock}点{minute}分"
