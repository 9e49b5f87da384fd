"""Service types, application statuses, their Chinese labels and allowed transitions.

The statuses are the contract in shared/spec/intents.md ("Application lifecycle").
"""

from __future__ import annotations

SUBMITTED = "submitted"
TOWNSHIP_REVIEW = "township_review"
DISTRICT_REVIEW = "district_review"
APPROVED = "approved"
READY_FOR_PICKUP = "ready_for_pickup"
COLLECTED = "collected"
RETURNED = "returned"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"

STATUS_LABELS: dict[str, str] = {
    SUBMITTED: "已提交",
    TOWNSHIP_REVIEW: "乡镇预审",
    DISTRICT_REVIEW: "区级审核",
    APPROVED: "已办结",
    READY_FOR_PICKUP: "待领取",
    COLLECTED: "已领取",
    RETURNED: "退回补正",
    REJECTED: "不予受理",
    WITHDRAWN: "已撤回",
}
STATUSES: tuple[str, ...] = tuple(STATUS_LABELS)
INITIAL_STATUS = SUBMITTED

# `returned` goes back to township review: the township office is where residents hand
# in the missing material. Withdrawal is possible until a decision has been made.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({TOWNSHIP_REVIEW, WITHDRAWN}),
    TOWNSHIP_REVIEW: frozenset({DISTRICT_REVIEW, RETURNED, REJECTED, WITHDRAWN}),
    DISTRICT_REVIEW: frozenset({APPROVED, RETURNED, REJECTED, WITHDRAWN}),
    RETURNED: frozenset({TOWNSHIP_REVIEW, WITHDRAWN}),
    APPROVED: frozenset({READY_FOR_PICKUP}),
    READY_FOR_PICKUP: frozenset({COLLECTED}),
    COLLECTED: frozenset(),
    REJECTED: frozenset(),
    WITHDRAWN: frozenset(),
}

# The resident must be told why, so these transitions are refused without a note.
NOTE_REQUIRED: frozenset[str] = frozenset({RETURNED, REJECTED})

# Decided or withdrawn: nothing the resident can still change. The retention period of
# personal fields (backend/retention.py) counts from the last status change into one.
CLOSED_STATUSES: frozenset[str] = frozenset(
    {APPROVED, READY_FOR_PICKUP, COLLECTED, REJECTED, WITHDRAWN}
)

# Still being handled: a person's second application for a service while one is open is
# flagged for staff as a possible duplicate (backend/store.py).
OPEN_STATUSES: tuple[str, ...] = tuple(
    status for status in STATUSES if status not in CLOSED_STATUSES
)

# The service types themselves are the contract's (backend/openapi.yaml); a test checks
# that every one has its label here.
SERVICE_LABELS: dict[str, str] = {
    "elderly_card": "老年人优待证",
    "subsistence_allowance": "最低生活保障（低保）",
    "housing_renovation": "农村危房改造",
    "temporary_relief": "临时救助",
}


def can_transition(current: str, target: str) -> bool:
    return target in ALLOWED_TRANSITIONS.get(current, frozenset())


def allowed_next(current: str) -> list[str]:
    """Allowed next statuses in lifecycle order, for error messages and staff screens."""
    allowed = ALLOWED_TRANSITIONS.get(current, frozenset())
    return [status for status in STATUSES if status in allowed]
