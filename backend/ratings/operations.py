"""Ratings: invite once, read the answer, follow a 差评 up.

- An invitation goes out through the notification outbox, in the transaction of what it
  is about: an application decided (approved or rejected), a staff reply to a question,
  a handoff handed back. One per subject (and one follow-up after a 差评 was put right):
  never twice, never forced — the words say a reply is not needed.
- The resident's next messages are offered to `answer` before the assistant sees them
  (with the handoff routing): a digit 1–5 or a level's words answer the latest open
  invitation of the conversation within INVITATION_DAYS; anything else goes on to the
  assistant, and the invitation stays open until it lapses.
- A 不满意 or 非常不满意 opens a rectification task: call back within
  STORE_CALLBACK_WORKING_DAYS working days, put right within STORE_RECTIFY_WORKING_DAYS
  (working days by the holiday calendar), record what was done, then one follow-up
  invitation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.console.accounts import Staff
from backend.console.audit import Actor, add_entry
from backend.crypto import FieldCipher
from backend.errors import ApiError
from backend.handoff.calendar import add_working_days
from backend.models import Application, Rating, Rectification
from backend.notifications.operations import enqueue
from backend.ratings.levels import BAD, read_answer
from backend.ratings.states import CALLED_BACK, OPEN, RECTIFIED
from backend.resident_texts import ResidentTexts
from backend.tracking import local_day

Clock = Callable[[], datetime]

INVITATION_DAYS = 7
RATING_INVITE = "rating_invite"  # the notification kind
FIRST, FOLLOW_UP = 1, 2
NOTES_MAX = 1000


@dataclass(frozen=True)
class Deadlines:
    callback_days: int
    rectify_days: int


@dataclass(frozen=True)
class Subject:
    """What a rating is about, and whom to ask."""

    kind: str
    ref: str
    conversation_id: str
    township: str | None = None
    service_type: str | None = None


def task_not_found() -> ApiError:
    return ApiError(404, "not_found", "没有这个整改任务")


class Ratings:
    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        cipher: FieldCipher,
        texts: ResidentTexts,
        deadlines: Deadlines,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._texts = texts
        self._deadlines = deadlines
        self._clock = clock

    async def invite(
        self,
        session: AsyncSession,
        subject: Subject,
        now: datetime,
        round_: int = FIRST,
        application: Application | None = None,
    ) -> Rating | None:
        """Add an invitation to the caller's transaction, unless one was made already
        (`application` words it for an application)."""
        exists = await session.scalar(
            select(Rating.id).where(
                Rating.subject == subject.kind,
                Rating.subject_ref == subject.ref,
                Rating.round == round_,
            )
        )
        if exists is not None:
            return None
        rating = Rating(
            conversation_id=subject.conversation_id,
            channel=subject.conversation_id.partition(":")[0],
            township=subject.township,
            subject=subject.kind,
            subject_ref=subject.ref,
            service_type=subject.service_type,
            round=round_,
            invited_at=now,
        )
        session.add(rating)
        await enqueue(
            session,
            self._cipher,
            conversation_id=subject.conversation_id,
            kind=RATING_INVITE,
            text=self._texts.invitation(
                self._texts.rating_subject(subject.kind, application), round_ == FOLLOW_UP
            ),
            now=now,
        )
        return rating

    async def answer(self, conversation_id: str, text: str) -> Rating | None:
        """Record the reply as the rating of the latest open invitation, if it is one."""
        answer = read_answer(text)
        if answer is None:
            return None
        now = self._clock()
        async with self._sessions() as session, session.begin():
            rating = await session.scalar(
                select(Rating)
                .where(
                    Rating.conversation_id == conversation_id,
                    Rating.answered_at.is_(None),
                    Rating.invited_at > now - timedelta(days=INVITATION_DAYS),
                )
                .order_by(Rating.invited_at.desc(), Rating.id.desc())
                .limit(1)
                .with_for_update()
            )
            if rating is None:
                return None
            rating.level, rating.answered_at = answer.level, now
            if answer.comment:
                rating.comment_enc = self._cipher.encrypt(answer.comment)
            if answer.level in BAD and rating.round == FIRST:
                session.add(self._task(rating, now))
            return rating

    def _task(self, rating: Rating, now: datetime) -> Rectification:
        today = local_day(now)
        callback_due = add_working_days(today, self._deadlines.callback_days)
        return Rectification(
            rating=rating,
            state=OPEN,
            opened_at=now,
            callback_due=callback_due,
            rectify_due=add_working_days(today, self._deadlines.rectify_days),
        )

    async def tasks(self, staff: Staff, state: str | None) -> list[Rectification]:
        query = (
            select(Rectification)
            .join(Rating, Rating.id == Rectification.rating_id)
            .options(selectinload(Rectification.rating))
            .order_by(Rectification.opened_at)
        )
        if state is not None:
            query = query.where(Rectification.state == state)
        if staff.township is not None:
            query = query.where(Rating.township == staff.township)
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def task(self, task_id: int, staff: Staff) -> Rectification:
        async with self._sessions() as session:
            task = await session.get(
                Rectification, task_id, options=[selectinload(Rectification.rating)]
            )
        if task is None or not _visible(task, staff):
            raise task_not_found()
        return task

    def comment(self, rating: Rating) -> str | None:
        return None if rating.comment_enc is None else self._cipher.decrypt(rating.comment_enc)

    def notes(self, task: Rectification) -> str | None:
        return None if task.notes_enc is None else self._cipher.decrypt(task.notes_enc)

    async def called_back(self, task_id: int, staff: Staff, notes: str, who: Actor) -> None:
        await self._advance(task_id, staff, notes, who, OPEN, CALLED_BACK)

    async def rectified(self, task_id: int, staff: Staff, notes: str, who: Actor) -> None:
        """Put right: recorded, and the resident invited once more to rate."""
        await self._advance(task_id, staff, notes, who, CALLED_BACK, RECTIFIED)

    async def _advance(
        self,
        task_id: int,
        staff: Staff,
        notes: str,
        who: Actor,
        expected: str,
        target: str,
    ) -> None:
        notes = notes.strip()
        if not 2 <= len(notes) <= NOTES_MAX:
            raise ApiError(400, "invalid_field", f"请写明情况（2–{NOTES_MAX} 字）")
        now = self._clock()
        async with self._sessions() as session, session.begin():
            task = await session.get(
                Rectification,
                task_id,
                options=[selectinload(Rectification.rating)],
                with_for_update=True,
            )
            if task is None or not _visible(task, staff):
                raise task_not_found()
            if task.state != expected:
                raise ApiError(409, "task_state", "这个任务已经有人处理过了，请刷新")
            earlier = self.notes(task)
            record = f"{local_day(now).isoformat()} {staff.display_name}：{notes}"
            task.notes_enc = self._cipher.encrypt(f"{earlier}\n{record}" if earlier else record)
            task.state = target
            if target == CALLED_BACK:
                task.called_back_at, task.called_back_by = now, staff.username
            else:
                task.rectified_at, task.rectified_by = now, staff.username
                rating = task.rating
                subject = Subject(
                    rating.subject,
                    rating.subject_ref,
                    rating.conversation_id,
                    rating.township,
                    rating.service_type,
                )
                await self.invite(session, subject, now, FOLLOW_UP)
            add_entry(session, who, f"rating_{target}", now, target=f"rectification:{task_id}")

    async def overdue_count(self, staff: Staff, today: date) -> int:
        tasks = await self.tasks(staff, None)
        return sum(1 for task in tasks if overdue(task, today))


def overdue(task: Rectification, today: date) -> bool:
    if task.state == OPEN:
        return today > task.callback_due
    return task.state == CALLED_BACK and today > task.rectify_due


def on_time(task: Rectification) -> bool:
    """Rectified, and by its deadline (counted on the day it was put right)."""
    return (
        task.state == RECTIFIED
        and task.rectified_at is not None
        and local_day(task.rectified_at) <= task.rectify_due
    )


def _visible(task: Rectification, staff: Staff) -> bool:
    return staff.township is None or task.rating.township == staff.township
