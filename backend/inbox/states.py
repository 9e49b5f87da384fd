"""What staff did with a group of unanswered questions.

A group is `open` until a staff member replies to its residents (`replied`), assigns it
to an existing intent or FAQ topic as training data (`assigned`), drafts a new FAQ topic
for it (`drafted`) or dismisses it with a reason (`dismissed`).
"""

from __future__ import annotations

OPEN = "open"
REPLIED = "replied"
ASSIGNED = "assigned"
DRAFTED = "drafted"
DISMISSED = "dismissed"

INBOX_GROUP_STATES: tuple[str, ...] = (OPEN, REPLIED, ASSIGNED, DRAFTED, DISMISSED)

STATE_LABELS = {
    OPEN: "待处理",
    REPLIED: "已回复",
    ASSIGNED: "已归入意图",
    DRAFTED: "已起草问答",
    DISMISSED: "已忽略",
}
