"""The throttling policy's arithmetic, without a database: when a caller and when a
subject may try again, worked out by hand from the policy in backend/throttling.py
(3 failures allowed in 10 minutes, then 30 s doubled per further failure, at most 15 min)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta

import pytest

from backend.config import Settings
from backend.throttling import ThrottlePolicy

POLICY = ThrottlePolicy(
    max_failures=3,
    window=timedelta(minutes=10),
    backoff_base=timedelta(seconds=30),
    backoff_max=timedelta(minutes=15),
)
NOW = datetime(2026, 11, 30, 12, 0, 0)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_the_policy_comes_from_the_settings() -> None:
    settings = Settings(
        database_url="sqlite://",
        service_token="s" * 20,
        staff_token="t" * 20,
        encryption_key="k",
        hash_key="h" * 20,
        proof_max_failures=4,
        proof_window_seconds=3600,
        proof_backoff_base_seconds=7,
        proof_backoff_max_seconds=120,
    )
    assert ThrottlePolicy.from_settings(settings) == ThrottlePolicy(
        max_failures=4,
        window=timedelta(hours=1),
        backoff_base=timedelta(seconds=7),
        backoff_max=timedelta(minutes=2),
    )


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        ([], 0),
        ([ago(100), ago(50)], 0),  # two of three: may still try
        # Three in the window: wait until the oldest of the last three leaves it.
        ([ago(100), ago(50), ago(10)], 500),
        ([ago(599), ago(50), ago(10)], 1),
        ([ago(599.5), ago(50), ago(10)], 1),  # half a second left: rounded up, never 0
        ([ago(600), ago(50), ago(10)], 0),  # the oldest has just left the window
        # Four: the second oldest is the one that has to leave.
        ([ago(590), ago(200), ago(50), ago(10)], 400),
        ([ago(590), ago(100.25), ago(50), ago(10)], 500),  # 499.75 s -> 500
    ],
)
def test_caller_waits_until_enough_failures_leave_the_window(
    failures: list[datetime], wait: int
) -> None:
    assert POLICY.caller_retry_after(failures, NOW) == wait


@pytest.mark.parametrize(
    ("failures", "backoff"),
    [
        (3, timedelta(seconds=30)),
        (4, timedelta(seconds=60)),
        (5, timedelta(seconds=120)),
        (7, timedelta(seconds=480)),
        (8, timedelta(seconds=900)),  # 960 s, capped
        (33, timedelta(seconds=900)),  # 30 doublings
        (34, timedelta(seconds=900)),  # more doublings than can matter
        (10_000, timedelta(seconds=900)),
    ],
)
def test_backoff_doubles_per_failure_up_to_the_cap(failures: int, backoff: timedelta) -> None:
    assert POLICY.backoff(failures) == backoff


def test_doublings_stop_at_30() -> None:
    # With no cap in reach, 30 doublings of 1 s and not one more.
    huge = ThrottlePolicy(3, timedelta(days=1), timedelta(seconds=1), timedelta(days=100_000))
    assert huge.backoff(33) == timedelta(seconds=2**30)
    assert huge.backoff(40) == timedelta(seconds=2**30)
    assert huge.backoff(32) == timedelta(seconds=2**29)


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        ([ago(30), ago(20)], 0),
        # Three: 30 s after the latest failure.
        ([ago(300), ago(200), ago(10)], 20),
        ([ago(300), ago(200), ago(30)], 0),
        ([ago(300), ago(200), ago(29.5)], 1),
        # Five: 120 s after the latest.
        ([ago(500), ago(400), ago(300), ago(200), ago(100)], 20),
        ([ago(500), ago(400), ago(300), ago(200), ago(119)], 1),
        ([ago(500), ago(400), ago(300), ago(200), ago(120)], 0),
    ],
)
def test_subject_waits_after_its_latest_failure(failures: list[datetime], wait: int) -> None:
    assert POLICY.subject_retry_after(failures, NOW) == wait


def test_the_policy_cannot_be_changed_once_made() -> None:
    # One policy serves every request of a store: no request may loosen it for others.
    with pytest.raises(FrozenInstanceError):
        POLICY.max_failures = 1_000  # type: ignore[misc]
