"""Database operations of the staff inbox, independent of HTTP.

Captures come from the Rasa server's outbox, which retries until it gets an answer: a
capture id seen before is answered with the item first stored, never stored twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.console.audit import Actor, add_entry
from backend.crypto import FieldCipher
from backend.errors import ApiError
from backend.inbox.grouping import shingles, similar
from backend.inbox.requests import Capture, Guess
from backend.inbox.states import ASSIGNED, DISMISSED, DRAFTED, OPEN, REPLIED
from backend.models import InboxGroup, InboxItem, InboxShingle
from backend.notifications.operations import enqueue
from backend.ratings.operations import Ratings, Subject
from backend.ratings.states import INBOX as INBOX_SUBJECT
from backend.tracking import CHINA_TZ, local_day

Clock = Callable[[], datetime]

# Candidate groups checked for similarity: those sharing the most shingles come first,
# and a question rarely shares many with more than a few groups.
CANDIDATE_GROUPS = 20
SHINGLE_HASH_LENGTH = 16
STAFF_REPLY = "staff_reply"  # the notification kind of a staff answer


@dataclass(frozen=True)
class InboxFilters:
    """Filters on the items of the listing; a staff member limited to a township sees
    only items from it (`township` is then forced by the console)."""

    channel: str | None = None
    township: str | None = None
    reason: str | None = None
    state: str | None = OPEN
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class Handling:
    """What a staff member did with a group: the new state and what goes with it."""

    state: str
    township: str | None = None
    label: str | None = None
    reply: str | None = None
    draft: dict[str, str] | None = None
    dismiss_reason: str | None = None


# The audit action of each way of handling a group.
HANDLING_AUDIT = {
    REPLIED: "inbox_reply",
    ASSIGNED: "inbox_assign",
    DRAFTED: "inbox_draft",
    DISMISSED: "inbox_dismiss",
}


@dataclass(frozen=True)
class GroupRow:
    group: InboxGroup
    count: int
    last_seen_at: datetime
    sample: InboxItem


def not_found() -> ApiError:
    return ApiError(404, "not_found", "没有这条记录")


def _guesses_json(guesses: Sequence[Guess]) -> str:
    return json.dumps(
        [{"name": guess.name, "confidence": round(guess.confidence, 4)} for guess in guesses],
        ensure_ascii=False,
    )


async def delete_groups(session: AsyncSession, group_ids: list[int]) -> None:
    """Delete groups left without questions (erasure, retention), in the caller's
    transaction; a group that pointed at one as its answered look-alike forgets it."""
    if not group_ids:
        return
    await session.execute(
        update(InboxGroup).where(InboxGroup.similar_to.in_(group_ids)).values(similar_to=None)
    )
    await session.execute(delete(InboxShingle).where(InboxShingle.group_id.in_(group_ids)))
    await session.execute(delete(InboxGroup).where(InboxGroup.id.in_(group_ids)))


def local_date(dialect: str, column: Any) -> Any:
    """SQL for the local (China) date of a UTC timestamp column, as YYYY-MM-DD."""
    if dialect == "sqlite":  # stored as naive UTC text
        return func.date(column, "+8 hours")
    return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM-DD")


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


class Inbox:
    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        cipher: FieldCipher,
        clock: Clock,
        ratings: Ratings | None = None,
    ) -> None:
        """With `ratings`, every resident a reply reaches is invited to rate it."""
        self._sessions = sessions
        self._cipher = cipher
        self._clock = clock
        self._ratings = ratings

    async def capture(self, capture: Capture) -> tuple[InboxItem, bool]:
        """The item stored for this capture id, and whether this call stored it."""
        async with self._sessions() as session:
            try:
                async with session.begin():
                    existing = await self._by_capture_id(session, capture.capture_id)
                    if existing is not None:
                        return existing, False
                    return await self._insert(session, capture), True
            except IntegrityError:
                # The same capture sent twice at once (a retry racing the first try).
                async with session.begin():
                    existing = await self._by_capture_id(session, capture.capture_id)
                if existing is None:
                    raise
                return existing, False

    async def resolve(self, capture_id: str, label: str) -> InboxItem:
        """A did-you-mean the resident answered: out of the inbox, kept as an example."""
        async with self._sessions() as session, session.begin():
            item = await self._by_capture_id(session, capture_id)
            if item is None:
                raise not_found()
            if item.reason != "clarified":
                raise ApiError(409, "not_clarified", "这条记录不是“您是不是想问”")
            if item.resolved_label is None:
                item.resolved_label = label
                item.resolved_at = self._clock()
            return item

    async def groups(
        self, filters: InboxFilters, limit: int, offset: int
    ) -> tuple[list[GroupRow], int]:
        """Groups with unresolved items matching the filters, most recently asked first."""
        matching = self._matching_items(filters).subquery()
        counts = (
            select(
                matching.c.group_id,
                func.count().label("count"),
                func.max(matching.c.occurred_at).label("last_seen_at"),
                func.min(matching.c.id).label("sample_id"),
            )
            .group_by(matching.c.group_id)
            .subquery()
        )
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(counts))
            rows = (
                await session.execute(
                    select(InboxGroup, counts.c.count, counts.c.last_seen_at, InboxItem)
                    .join(counts, counts.c.group_id == InboxGroup.id)
                    .join(InboxItem, InboxItem.id == counts.c.sample_id)
                    .order_by(counts.c.last_seen_at.desc(), InboxGroup.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
        return [GroupRow(group, count, last, sample) for group, count, last, sample in rows], int(
            total or 0
        )

    async def group(
        self, group_id: int, township: str | None, samples: int
    ) -> tuple[InboxGroup, list[InboxItem]]:
        """A group and its newest unresolved items (of one township when limited)."""
        async with self._sessions() as session:
            group = await session.get(InboxGroup, group_id)
            if group is None:
                raise not_found()
            query = (
                select(InboxItem)
                .where(InboxItem.group_id == group_id, InboxItem.resolved_label.is_(None))
                .order_by(InboxItem.occurred_at.desc(), InboxItem.id.desc())
                .limit(samples)
            )
            if township is not None:
                query = query.where(InboxItem.township == township)
            items = list((await session.scalars(query)).all())
        if township is not None and not items:
            raise not_found()  # nothing of it is theirs to see
        return group, items

    async def earlier_reply(self, group: InboxGroup) -> str | None:
        """The reply staff gave the answered group this one resembles, if any."""
        if group.similar_to is None:
            return None
        async with self._sessions() as session:
            token = await session.scalar(
                select(InboxGroup.reply_enc).where(InboxGroup.id == group.similar_to)
            )
        return None if token is None else self._cipher.decrypt(token)

    async def places(self, group_id: int) -> set[str | None]:
        """The townships of a group's unresolved questions (None: no place named)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(InboxItem.township)
                .where(InboxItem.group_id == group_id, InboxItem.resolved_label.is_(None))
                .distinct()
            )
            return set(rows.all())

    async def item(self, item_id: int) -> InboxItem:
        async with self._sessions() as session:
            item = await session.get(InboxItem, item_id)
        if item is None:
            raise not_found()
        return item

    async def handle(self, group_id: int, handling: Handling, who: Actor) -> InboxGroup:
        """Record how staff handled an open group, with its audit entry; a reply is
        queued for every resident of the group (of the staff member's township when
        limited) in the same transaction. A group is handled once."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            group = await session.get(InboxGroup, group_id, with_for_update=True)
            if group is None:
                raise not_found()
            if group.state != OPEN:
                raise ApiError(409, "already_handled", "这组问题已经有人处理过了，请刷新")
            if handling.reply is not None:
                residents = await session.scalars(
                    self._residents(group_id, handling.township).with_only_columns(
                        InboxItem.conversation_id
                    )
                )
                for conversation in residents.all():
                    notice = await enqueue(
                        session,
                        self._cipher,
                        conversation_id=conversation,
                        kind=STAFF_REPLY,
                        text=handling.reply,
                        now=now,
                    )
                    if self._ratings is not None:
                        # The group names what was answered; the notice makes it one per resident.
                        ref = f"{group_id}:{notice.id}"
                        subject = Subject(INBOX_SUBJECT, ref, conversation)
                        await self._ratings.invite(session, subject, now)
                group.reply_enc = self._cipher.encrypt(handling.reply)
            group.state = handling.state
            group.label = handling.label
            group.draft = (
                None if handling.draft is None else json.dumps(handling.draft, ensure_ascii=False)
            )
            group.dismiss_reason = handling.dismiss_reason
            group.handled_by = who.username
            group.handled_at = now
            add_entry(
                session,
                who,
                HANDLING_AUDIT[handling.state],
                now,
                target=f"inbox_group:{group_id}",
                reason=handling.label or handling.dismiss_reason,
            )
            return group

    @staticmethod
    def _residents(group_id: int, township: str | None) -> Select:
        query = (
            select(InboxItem)
            .where(InboxItem.group_id == group_id, InboxItem.resolved_label.is_(None))
            .distinct()
        )
        if township is not None:
            query = query.where(InboxItem.township == township)
        return query

    async def per_day(self, filters: InboxFilters, days: int) -> list[tuple[date, int]]:
        """Unresolved questions per local day over the last `days` days, oldest first."""
        today = local_day(self._clock())
        first = today - timedelta(days=days - 1)
        window = replace(filters, state=None, since=first, until=None)
        async with self._sessions() as session:
            day = local_date(session.bind.dialect.name, InboxItem.occurred_at)
            rows = await session.execute(
                self._matching_items(window)
                .with_only_columns(day.label("day"), func.count())
                .group_by(day)
            )
            counts = {str(row[0]): int(row[1]) for row in rows}
        dates = [first + timedelta(days=offset) for offset in range(days)]
        return [(day, counts.get(day.isoformat(), 0)) for day in dates]

    async def top_missed(self, filters: InboxFilters, limit: int) -> list[tuple[str, int]]:
        """The labels the model guessed best most often for unresolved questions."""
        matching = self._matching_items(filters).subquery()
        query = (
            select(matching.c.top_label, func.count().label("count"))
            .where(matching.c.top_label.is_not(None))
            .group_by(matching.c.top_label)
            .order_by(func.count().desc(), matching.c.top_label)
            .limit(limit)
        )
        async with self._sessions() as session:
            return [(row.top_label, row.count) for row in await session.execute(query)]

    def _matching_items(self, filters: InboxFilters) -> Select:
        query = select(InboxItem).where(InboxItem.resolved_label.is_(None))
        if filters.state is not None:
            query = query.join(InboxGroup, InboxGroup.id == InboxItem.group_id).where(
                InboxGroup.state == filters.state
            )
        if filters.channel is not None:
            query = query.where(InboxItem.channel == filters.channel)
        if filters.township is not None:
            query = query.where(InboxItem.township == filters.township)
        if filters.reason is not None:
            query = query.where(InboxItem.reason == filters.reason)
        if filters.since is not None:
            query = query.where(InboxItem.occurred_at >= local_midnight(filters.since))
        if filters.until is not None:
            end = local_midnight(filters.until) + timedelta(days=1)
            query = query.where(InboxItem.occurred_at < end)
        return query

    async def _by_capture_id(self, session: AsyncSession, capture_id: str) -> InboxItem | None:
        return await session.scalar(select(InboxItem).where(InboxItem.capture_id == capture_id))

    async def _insert(self, session: AsyncSession, capture: Capture) -> InboxItem:
        now = self._clock()
        hashed = {
            self._cipher.keyed_hash("shingle", shingle)[:SHINGLE_HASH_LENGTH]
            for shingle in shingles(capture.text)
        }
        group = await self._rephrased_group(session, capture) or await self._similar_group(
            session, hashed, (OPEN,)
        )
        if group is None:
            answered = await self._similar_group(session, hashed, (REPLIED,))
            group = InboxGroup(
                shingle_count=len(hashed),
                state=OPEN,
                created_at=now,
                last_seen_at=now,
                similar_to=None if answered is None else answered.id,
            )
            session.add(group)
            await session.flush()
            session.add_all(InboxShingle(group_id=group.id, shingle=value) for value in hashed)
        group.last_seen_at = max(group.last_seen_at, now)
        item = InboxItem(
            capture_id=capture.capture_id,
            group_id=group.id,
            reason=capture.reason,
            channel=capture.channel,
            conversation_id=capture.conversation_id,
            township=capture.township,
            text_enc=self._cipher.encrypt(capture.text),
            reply_enc=None if capture.reply is None else self._cipher.encrypt(capture.reply),
            intents=_guesses_json(capture.intents),
            topics=_guesses_json(capture.topics),
            top_label=capture.top_label,
            model=capture.model,
            occurred_at=capture.occurred_at,
            received_at=now,
        )
        session.add(item)
        await session.flush()
        return item

    async def _rephrased_group(self, session: AsyncSession, capture: Capture) -> InboxGroup | None:
        """The open group of the question this one follows right after (the resident
        rephrasing what the assistant did not answer; backend/inbox/grouping.py)."""
        if capture.follows is None:
            return None
        return await session.scalar(
            select(InboxGroup)
            .join(InboxItem, InboxItem.group_id == InboxGroup.id)
            .where(
                InboxItem.capture_id == capture.follows,
                InboxItem.conversation_id == capture.conversation_id,
                InboxGroup.state == OPEN,
            )
        )

    async def _similar_group(
        self, session: AsyncSession, hashed: set[str], states: tuple[str, ...]
    ) -> InboxGroup | None:
        shared = func.count().label("shared")
        candidates = (
            await session.execute(
                select(InboxGroup, shared)
                .join(InboxShingle, InboxShingle.group_id == InboxGroup.id)
                .where(InboxShingle.shingle.in_(hashed), InboxGroup.state.in_(states))
                .group_by(InboxGroup.id)
                .order_by(shared.desc(), InboxGroup.id)
                .limit(CANDIDATE_GROUPS)
            )
        ).all()
        for group, count in candidates:
            if similar(count, len(hashed), group.shingle_count):
                return group
        return None
