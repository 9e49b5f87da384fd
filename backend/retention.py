"""Retention: `python -m backend purge` anonymises applications' personal fields and deletes
old conversation data (`purge_conversations`, STORE_CONVERSATION_RETENTION_DAYS).

Rule assumed: an application is a government record. The district files it under the
records rules for 机关 documents (《机关文件材料归档范围和文书档案保管期限规定》, 国家档案局令
第8号, which keeps files 10 years, 30 years or permanently) in its own case system; this
store is the working copy the assistant and staff use. PIPL art. 47 asks for personal
information to be deleted once the purpose is fulfilled and the legal retention period
has ended, so the store keeps the personal fields of an application only while it may
still be needed and then anonymises them. Which period applies has NOT been confirmed by
the district: until it is, STORE_RETENTION_DAYS is unset and nothing is purged (keep).

Closed applications (decided or withdrawn, backend.lifecycle.CLOSED_STATUSES) whose last
status change is older than STORE_RETENTION_DAYS lose the applicant's name, ID number,
phone, details, conversation id, request fingerprint and the staff notes of their
history; the tracking number, service type, place, channel, statuses and dates stay for
statistics and for the staff's records. Run the command daily (cron or a systemd timer);
it is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.crypto import FieldCipher
from backend.handoff.states import CLOSED
from backend.inbox.operations import delete_groups
from backend.inbox.states import ASSIGNED, DRAFTED
from backend.lifecycle import CLOSED_STATUSES
from backend.models import (
    Application,
    Handoff,
    HandoffMessage,
    InboxGroup,
    InboxItem,
    Notification,
    Rating,
    StatusChange,
)
from backend.notifications.states import PENDING

# Groups whose questions are training data (the learning loop reads them).
TRAINING_STATES = (ASSIGNED, DRAFTED)
# Erased fields keep a valid ciphertext (the columns are required and views decrypt them).
ERASED = ""


async def purge(
    sessions: Callable[[], AsyncSession], cipher: FieldCipher, retention_days: int, now: datetime
) -> int:
    """Anonymise closed applications past the retention period; returns how many."""
    cutoff = now - timedelta(days=retention_days)
    async with sessions() as session, session.begin():
        ids = list(
            await session.scalars(
                select(Application.id).where(
                    Application.status.in_(CLOSED_STATUSES),
                    Application.status_changed_at <= cutoff,
                    Application.anonymised_at.is_(None),
                )
            )
        )
        if not ids:
            return 0
        await session.execute(
            update(Application)
            .where(Application.id.in_(ids))
            .values(
                applicant_name_enc=cipher.encrypt(ERASED),
                id_number_enc=cipher.encrypt(ERASED),
                id_number_hash=ERASED,
                phone_enc=cipher.encrypt(ERASED),
                phone_hash=ERASED,
                details_enc=cipher.encrypt_json({}),
                conversation_id=ERASED,
                request_fingerprint=ERASED,
                anonymised_at=now,
            )
        )
        await session.execute(
            update(StatusChange).where(StatusChange.application_id.in_(ids)).values(note=None)
        )
    return len(ids)


async def purge_conversations(
    sessions: Callable[[], AsyncSession], retention_days: int, now: datetime
) -> int:
    """Delete what residents said and were sent, once older than the period (as the Rasa
    server deletes idle conversations): captured questions — but those staff assigned or
    drafted as training data, which the learning loop still needs —, the messages of
    closed handoffs, notices delivered or given up, rating comments. Returns how many
    rows went."""
    cutoff = now - timedelta(days=retention_days)
    async with sessions() as session, session.begin():
        kept_groups = select(InboxGroup.id).where(InboxGroup.state.in_(TRAINING_STATES))
        questions = await session.execute(
            delete(InboxItem).where(
                InboxItem.occurred_at <= cutoff, InboxItem.group_id.not_in(kept_groups)
            )
        )
        empty = select(InboxGroup.id).where(
            InboxGroup.last_seen_at <= cutoff,
            ~exists().where(InboxItem.group_id == InboxGroup.id),
        )
        empty_ids = list(await session.scalars(empty))
        await delete_groups(session, empty_ids)
        closed = select(Handoff.id).where(Handoff.state == CLOSED, Handoff.closed_at <= cutoff)
        messages = await session.execute(
            delete(HandoffMessage).where(HandoffMessage.handoff_id.in_(closed))
        )
        notices = await session.execute(
            delete(Notification).where(
                Notification.state != PENDING, Notification.created_at <= cutoff
            )
        )
        comments = await session.execute(
            update(Rating)
            .where(Rating.answered_at <= cutoff, Rating.comment_enc.is_not(None))
            .values(comment_enc=None)
        )
    return sum(result.rowcount for result in (questions, messages, notices, comments)) + len(
        empty_ids
    )
