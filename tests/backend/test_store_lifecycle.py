"""Every status change staff may make, checked against a table written out by hand from
the lifecycle contract (shared/spec/intents.md, "Application lifecycle"), never built
from the table under test."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from store_helpers import create, transition

from backend.lifecycle import STATUSES, can_transition
from scripts.id_numbers import resident_id_number

STATUS_NAMES = [
    "submitted",
    "township_review",
    "district_review",
    "approved",
    "ready_for_pickup",
    "collected",
    "returned",
    "rejected",
    "withdrawn",
]
# Forward through the reviews; returned and rejected from a review; a returned
# application goes back to the township; withdrawal before approval. Nothing else:
# submitted -> district_review and returned -> district_review skip the township.
ALLOWED = {
    ("submitted", "township_review"),
    ("submitted", "withdrawn"),
    ("township_review", "district_review"),
    ("township_review", "returned"),
    ("township_review", "rejected"),
    ("township_review", "withdrawn"),
    ("district_review", "approved"),
    ("district_review", "returned"),
    ("district_review", "rejected"),
    ("district_review", "withdrawn"),
    ("returned", "township_review"),
    ("returned", "withdrawn"),
    ("approved", "ready_for_pickup"),
    ("ready_for_pickup", "collected"),
}
# A way into each status, step by step.
PATHS = {
    "submitted": [],
    "township_review": ["township_review"],
    "district_review": ["township_review", "district_review"],
    "returned": ["township_review", "returned"],
    "approved": ["township_review", "district_review", "approved"],
    "ready_for_pickup": ["township_review", "district_review", "approved", "ready_for_pickup"],
    "collected": [
        "township_review",
        "district_review",
        "approved",
        "ready_for_pickup",
        "collected",
    ],
    "rejected": ["township_review", "rejected"],
    "withdrawn": ["withdrawn"],
}


def test_the_statuses_are_the_contracts() -> None:
    assert list(STATUSES) == STATUS_NAMES


@pytest.mark.parametrize("current", STATUS_NAMES)
@pytest.mark.parametrize("target", STATUS_NAMES)
def test_the_transition_rule(current: str, target: str) -> None:
    assert can_transition(current, target) == ((current, target) in ALLOWED)


def test_the_changes_that_skip_the_township_are_refused() -> None:
    assert not can_transition("submitted", "district_review")
    assert not can_transition("returned", "district_review")


@pytest.mark.asyncio
@pytest.mark.parametrize("current", STATUS_NAMES)
async def test_staff_can_make_exactly_the_allowed_changes(client: TestClient, current: str) -> None:
    for index, target in enumerate(STATUS_NAMES):
        number = (
            await create(client, key=f"{current}-{index}", id_number=resident_id_number(index))
        )["tracking_number"]
        for step in PATHS[current]:
            assert (await transition(client, number, step, note="原因")).status == 200
        response = await transition(client, number, target, note="原因")
        expected = 200 if (current, target) in ALLOWED else 409
        assert response.status == expected, (current, target, await response.text())
