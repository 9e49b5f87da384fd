"""Where a handoff stands.

- `waiting`: in the queue during office hours; the assistant keeps answering meanwhile.
- `awaiting_message`: outside office hours, the resident was asked to leave a message;
  their next message is it.
- `message_left`: the message is waiting for staff; the assistant keeps answering.
- `active`: a staff member has the conversation; the assistant is silent for it and the
  resident's messages go to that staff member.
- `closed`: handed back (or cancelled); the assistant answers again.
"""

from __future__ import annotations

WAITING = "waiting"
AWAITING_MESSAGE = "awaiting_message"
MESSAGE_LEFT = "message_left"
ACTIVE = "active"
CLOSED = "closed"

HANDOFF_STATES: tuple[str, ...] = (WAITING, AWAITING_MESSAGE, MESSAGE_LEFT, ACTIVE, CLOSED)
OPEN_STATES: tuple[str, ...] = (WAITING, AWAITING_MESSAGE, MESSAGE_LEFT, ACTIVE)
# In the staff queue, oldest first, to be taken.
QUEUED_STATES: tuple[str, ...] = (WAITING, MESSAGE_LEFT)
# Not yet with anyone: in the shared pool (and the resident may still be leaving a message).
WAITING_STATES: tuple[str, ...] = (WAITING, AWAITING_MESSAGE, MESSAGE_LEFT)
# The resident's messages go to staff, not to the assistant.
ROUTED_TO_STAFF: tuple[str, ...] = (AWAITING_MESSAGE, ACTIVE)

STATE_LABELS = {
    WAITING: "排队中",
    AWAITING_MESSAGE: "等居民留言",
    MESSAGE_LEFT: "已留言",
    ACTIVE: "人工处理中",
    CLOSED: "已结束",
}

# Why a handoff began: the resident asked (or their form stopped, the Rasa server says
# which), or a staff member reached out (to follow up a 差评).
REQUESTED: tuple[str, ...] = ("asked", "form_stopped")
FOLLOW_UP = "follow_up"
REASONS: tuple[str, ...] = (*REQUESTED, FOLLOW_UP)
REASON_LABELS = {"asked": "居民要求", "form_stopped": "填表三次不成", FOLLOW_UP: "工作人员回访"}

RESIDENT = "resident"
STAFF = "staff"
