"""What a rating is about, and where a rectification task stands."""

from __future__ import annotations

APPLICATION = "application"
INBOX = "inbox"
HANDOFF = "handoff"
SUBJECTS: tuple[str, ...] = (APPLICATION, INBOX, HANDOFF)
SUBJECT_LABELS = {APPLICATION: "办件", INBOX: "留言回复", HANDOFF: "人工服务"}

OPEN = "open"  # to be called back
CALLED_BACK = "called_back"  # called back, to be put right
RECTIFIED = "rectified"
TASK_STATES: tuple[str, ...] = (OPEN, CALLED_BACK, RECTIFIED)
TASK_LABELS = {OPEN: "待回访", CALLED_BACK: "已回访，整改中", RECTIFIED: "已整改"}
