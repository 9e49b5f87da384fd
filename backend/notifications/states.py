"""Names shared by the notifications table (backend/models.py) and its operations
(backend/notifications/operations.py): the kinds and error codes of the contract
(backend/openapi.yaml) and the delivery states. A notice goes to the channel its
conversation is on (`<channel>:<id>`), one of the contract's CHANNELS."""

from __future__ import annotations

from backend.contract import CHANNELS, SPEC

__all__ = ["CHANNELS", "DEAD", "DEFERRALS", "DELIVERED", "ERRORS", "KINDS", "PENDING", "STATES"]

_SCHEMAS = SPEC["components"]["schemas"]

KINDS: tuple[str, ...] = tuple(_SCHEMAS["NotificationKind"]["enum"])
ERRORS: tuple[str, ...] = tuple(_SCHEMAS["NotificationError"]["enum"])
# The resident cannot be reached right now but will be when they come back (WeChat's
# 48-hour window has closed, the widget is not open): the notice waits, and the wait
# is not a failed attempt.
DEFERRALS = frozenset({"window_closed", "not_connected"})

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
STATES = (PENDING, DELIVERED, DEAD)
