"""The lifecycle rules themselves, without a database: what staff screens offer next, in
which order, which changes need a note and which statuses are closed. Every expectation
is written out by hand from the contract (shared/spec/intents.md, "Application
lifecycle"), never read from backend/lifecycle.py."""

from __future__ import annotations

import pytest

from backend.lifecycle import (
    CLOSED_STATUSES,
    INITIAL_STATUS,
    NOTE_REQUIRED,
    OPEN_STATUSES,
    SERVICE_LABELS,
    allowed_next,
    can_transition,
)

# In lifecycle order, as staff screens list them.
NEXT = {
    "submitted": ["township_review", "withdrawn"],
    "township_review": ["district_review", "returned", "rejected", "withdrawn"],
    "district_review": ["approved", "returned", "rejected", "withdrawn"],
    "approved": ["ready_for_pickup"],
    "ready_for_pickup": ["collected"],
    "collected": [],
    "returned": ["township_review", "withdrawn"],
    "rejected": [],
    "withdrawn": [],
}


@pytest.mark.parametrize(("current", "expected"), NEXT.items())
def test_allowed_next_in_lifecycle_order(current: str, expected: list[str]) -> None:
    assert allowed_next(current) == expected


@pytest.mark.parametrize("unknown", ["", "SUBMITTED", "archived", "district review"])
def test_an_unknown_status_goes_nowhere(unknown: str) -> None:
    assert allowed_next(unknown) == []
    assert not can_transition(unknown, "township_review")
    assert not can_transition(unknown, "withdrawn")


def test_new_applications_start_submitted() -> None:
    assert INITIAL_STATUS == "submitted"


def test_returning_and_rejecting_need_a_note() -> None:
    assert {"returned", "rejected"} == NOTE_REQUIRED


def test_closed_statuses_are_decided_or_withdrawn() -> None:
    assert {"approved", "ready_for_pickup", "collected", "rejected", "withdrawn"} == CLOSED_STATUSES


def test_open_statuses_are_those_still_being_handled_in_lifecycle_order() -> None:
    # One open application per person and service: these block a second one.
    assert OPEN_STATUSES == ("submitted", "township_review", "district_review", "returned")


def test_service_labels() -> None:
    assert SERVICE_LABELS == {
        "elderly_card": "老年人优待证",
        "subsistence_allowance": "最低生活保障（低保）",
        "housing_renovation": "农村危房改造",
        "temporary_relief": "临时救助",
    }
