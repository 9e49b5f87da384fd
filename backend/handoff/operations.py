"""Handoff operations, independent of HTTP.

The Rasa replicas ask `route` for every resident message before the assistant sees it:
the store is the one place that knows whether a person has the conversation, so the
assistant is silent for it on every channel and every replica. Everything staff say
reaches the resident through the notification outbox (backend/notifications/operations.py), in the
same transaction as the change it tells of.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.console.accounts import Staff
from backend.console.audit import Actor, add_entry
from backend.crypto import FieldCipher
from backend.errors import ApiError
from backend.handoff.calendar import OfficeHours
from backend.handoff.states import (
    ACTIVE,
    AWAITING_MESSAGE,
    CLOSED,
    FOLLOW_UP,
    MESSAGE_LEFT,
    OPEN_STATES,
    QUEUED_STATES,
    RESIDENT,
    ROUTED_TO_STAFF,
    STAFF,
    WAITING,
    WAITING_STATES,
)
from backend.models import Handoff, HandoffMessage, InboxItem
from backend.notifications.operations import enqueue
from backend.ratings.operations import Ratings, Subject
from backend.ratings.states import HANDOFF as HANDOFF_SUBJECT

Clock = Callable[[], datetime]

# Notification kinds (backend/openapi.yaml NotificationKind): the Rasa server frames each
# with its domain response, so the words residents read are staff-editable.
SAID = "handoff"
TAKEN = "handoff_taken"
CLOSED_NOTICE = "handoff_closed"
MESSAGE_MAX = 500
# The capture reason of a request for a person, and the intent it is an example of.
HANDOFF_REASON = "handoff"
ASK_HUMAN = "ask_human"


@dataclass(frozen=True)
class Ticket:
    """What the resident is told after asking for a person."""

    handoff: Handoff
    position: int | None
    office_open: bool
    next_opening: datetime
    new: bool


@dataclass(frozen=True)
class Route:
    to_staff: bool
    state: str | None
    message_taken: bool = False


def not_found() -> ApiError:
    return ApiError(404, "not_found", "没有这个转人工记录")


def conflict(message: str) -> ApiError:
    return ApiError(409, "handoff_state", message)


class Handoffs:
    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        cipher: FieldCipher,
        hours: OfficeHours,
        clock: Clock,
        ratings: Ratings | None = None,
    ) -> None:
        """With `ratings`, a resident whom a person served is invited to rate it."""
        self._ratings = ratings
        self._sessions = sessions
        self._cipher = cipher
        self.hours = hours
        self._clock = clock

    async def request(self, conversation_id: str, reason: str, township: str | None) -> Ticket:
        """Queue the conversation (or ask for a message outside office hours); asking
        again while one is open returns that one."""
        now = self._clock()
        office_open = self.hours.is_open(now)
        async with self._sessions() as session:
            try:
                async with session.begin():
                    existing = await self._open(session, conversation_id)
                    if existing is None:
                        state = WAITING if office_open else AWAITING_MESSAGE
                        handoff = await _new_handoff(
                            session, conversation_id, township, reason, state, now
                        )
                    else:
                        handoff = existing
            except IntegrityError:
                # Two replicas took the same request at once: the other one's stands.
                async with session.begin():
                    handoff = await self._open(session, conversation_id)
                existing = handoff
                if handoff is None:
                    raise
            position = await self._position(session, handoff)
        return Ticket(
            handoff, position, office_open, self.hours.next_opening(now), existing is None
        )

    async def route(self, conversation_id: str, text: str) -> Route:
        """Where a resident's message goes: to staff (kept here) or to the assistant."""
        async with self._sessions() as session, session.begin():
            handoff = await self._open(session, conversation_id)
            if handoff is None or handoff.state not in ROUTED_TO_STAFF:
                return Route(False, None if handoff is None else handoff.state)
            self._say(session, handoff, RESIDENT, text[:MESSAGE_MAX], None)
            taken = handoff.state == AWAITING_MESSAGE
            if taken:
                handoff.state = MESSAGE_LEFT
            return Route(True, handoff.state, message_taken=taken)

    async def cancel(self, conversation_id: str) -> bool:
        """The resident no longer wants a person (only before one has taken over)."""
        async with self._sessions() as session, session.begin():
            handoff = await self._open(session, conversation_id)
            if handoff is None or handoff.state == ACTIVE:
                return False
            handoff.state = CLOSED
            handoff.closed_at = self._clock()
            return True

    async def queue(self, staff: Staff) -> list[tuple[Handoff, int]]:
        """Open handoffs this staff member may see, oldest first, with their message
        counts: their township's and the unplaced ones when limited."""
        counts = (
            select(HandoffMessage.handoff_id, func.count().label("messages"))
            .group_by(HandoffMessage.handoff_id)
            .subquery()
        )
        query = (
            select(Handoff, func.coalesce(counts.c.messages, 0))
            .outerjoin(counts, counts.c.handoff_id == Handoff.id)
            .where(Handoff.state.in_(OPEN_STATES))
            .order_by(Handoff.requested_at, Handoff.id)
        )
        if staff.township is not None:
            # The same rule as _visible: what is in the queue can be opened.
            unplaced = Handoff.township.is_(None) & (
                Handoff.state.in_(WAITING_STATES) | (Handoff.taken_by == staff.id)
            )
            query = query.where(or_(Handoff.township == staff.township, unplaced))
        async with self._sessions() as session:
            return [(handoff, count) for handoff, count in (await session.execute(query)).all()]

    async def get(self, handoff_id: int, staff: Staff) -> tuple[Handoff, list[HandoffMessage]]:
        async with self._sessions() as session:
            handoff = await session.get(Handoff, handoff_id)
            if handoff is None or not _visible(handoff, staff):
                raise not_found()
            messages = await session.scalars(
                select(HandoffMessage)
                .where(HandoffMessage.handoff_id == handoff_id)
                .order_by(HandoffMessage.id)
            )
            return handoff, list(messages.all())

    async def messages_after(
        self, handoff_id: int, staff: Staff, after: int
    ) -> tuple[Handoff, list[HandoffMessage]]:
        """New messages since `after` (the staff page polls for them)."""
        async with self._sessions() as session:
            handoff = await session.get(Handoff, handoff_id)
            if handoff is None or not _visible(handoff, staff):
                raise not_found()
            messages = await session.scalars(
                select(HandoffMessage)
                .where(HandoffMessage.handoff_id == handoff_id, HandoffMessage.id > after)
                .order_by(HandoffMessage.id)
            )
            return handoff, list(messages.all())

    def text_of(self, message: HandoffMessage) -> str:
        return self._cipher.decrypt(message.text_enc)

    async def take(self, handoff_id: int, staff: Staff, who: Actor) -> Handoff:
        async with self._sessions() as session, session.begin():
            handoff = await self._for_update(session, handoff_id, staff)
            if handoff.state not in QUEUED_STATES:
                raise conflict("这个对话已经有人接了，或已经结束")
            if handoff.forwarded_to not in (None, staff.id) and not staff.is_admin:
                raise conflict("这个对话转给了别的同事")
            now = self._clock()
            handoff.state, handoff.taken_by, handoff.taken_at = ACTIVE, staff.id, now
            handoff.forwarded_to = None
            await self._notify(session, handoff, TAKEN, staff.display_name, now)
            add_entry(session, who, "handoff_take", now, target=f"handoff:{handoff_id}")
            return handoff

    async def say(self, handoff_id: int, staff: Staff, text: str, who: Actor) -> HandoffMessage:
        """A staff member's message to the resident (only by the one who took it)."""
        async with self._sessions() as session, session.begin():
            handoff = await self._for_update(session, handoff_id, staff)
            if handoff.state != ACTIVE or handoff.taken_by != staff.id:
                raise conflict("只有接入这个对话的人可以回复，请先接入")
            now = self._clock()
            message = self._say(session, handoff, STAFF, text, staff.display_name)
            await self._notify(session, handoff, SAID, text, now)
            await session.flush()
            return message

    async def reach_out(
        self, conversation_id: str, township: str | None, staff: Staff, text: str, who: Actor
    ) -> Handoff:
        """A staff member writes to a resident first (to follow up a 差评): the
        conversation becomes theirs, so that the resident's answers come to them, not to
        the assistant, until they hand it back."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            handoff = await self._open(session, conversation_id)
            if handoff is None:
                handoff = await _new_handoff(
                    session, conversation_id, township, FOLLOW_UP, ACTIVE, now
                )
            elif handoff.state == ACTIVE and handoff.taken_by != staff.id:
                raise conflict("这位居民正在和别的同事对话")
            handoff.state, handoff.taken_by, handoff.taken_at = ACTIVE, staff.id, now
            handoff.forwarded_to = None
            self._say(session, handoff, STAFF, text, staff.display_name)
            await self._notify(session, handoff, SAID, text, now)
            add_entry(session, who, "handoff_reach_out", now, target=f"handoff:{handoff.id}")
            return handoff

    async def hand_back(self, handoff_id: int, staff: Staff, who: Actor) -> Handoff:
        async with self._sessions() as session, session.begin():
            handoff = await self._for_update(session, handoff_id, staff)
            # Only the person who has the conversation ends it: a waiting resident (or a
            # message left) is taken first, so that they are answered and told.
            if handoff.state != ACTIVE:
                raise conflict("请先接入这个对话，回复居民后再结束")
            self._check_in_charge(handoff, staff)
            now = self._clock()
            handoff.state, handoff.closed_at = CLOSED, now
            await self._settle_requests(session, handoff.conversation_id, now)
            await self._notify(session, handoff, CLOSED_NOTICE, staff.display_name, now)
            if self._ratings is not None:
                subject = Subject(
                    HANDOFF_SUBJECT, str(handoff.id), handoff.conversation_id, handoff.township
                )
                await self._ratings.invite(session, subject, now)
            add_entry(session, who, "handoff_close", now, target=f"handoff:{handoff_id}")
            return handoff

    async def forward(
        self,
        handoff_id: int,
        staff: Staff,
        who: Actor,
        *,
        colleague: Staff | None = None,
        township: str | None = None,
    ) -> Handoff:
        """Back into the queue for one colleague, or for another township's staff."""
        async with self._sessions() as session, session.begin():
            handoff = await self._for_update(session, handoff_id, staff)
            if handoff.state == CLOSED:
                raise conflict("这个对话已经结束了")
            self._check_in_charge(handoff, staff)
            if handoff.state == ACTIVE:
                handoff.state = WAITING
            handoff.taken_by = handoff.taken_at = None
            handoff.forwarded_to = None if colleague is None else colleague.id
            if township is not None:
                handoff.township = township
            target = colleague.username if colleague is not None else township
            add_entry(
                session,
                who,
                "handoff_forward",
                self._clock(),
                target=f"handoff:{handoff_id}",
                reason=f"转给 {target}",
            )
            return handoff

    @staticmethod
    def _check_in_charge(handoff: Handoff, staff: Staff) -> None:
        """A conversation someone has, or that was forwarded to someone, is theirs to
        pass on or end (admins may step in)."""
        if staff.is_admin:
            return
        if handoff.state == ACTIVE and handoff.taken_by != staff.id:
            raise conflict("这个对话是别的同事在处理")
        if handoff.forwarded_to not in (None, staff.id):
            raise conflict("这个对话转给了别的同事")

    @staticmethod
    async def _settle_requests(session: AsyncSession, conversation_id: str, now: datetime) -> None:
        """The resident's requests for a person in the inbox were answered by the handoff:
        they leave the inbox as confirmed examples of asking for a person."""
        await session.execute(
            update(InboxItem)
            .where(
                InboxItem.conversation_id == conversation_id,
                InboxItem.reason == HANDOFF_REASON,
                InboxItem.resolved_label.is_(None),
                InboxItem.occurred_at <= now,
            )
            .values(resolved_label=ASK_HUMAN, resolved_at=now)
        )

    async def _open(self, session: AsyncSession, conversation_id: str) -> Handoff | None:
        return await session.scalar(
            select(Handoff).where(
                Handoff.conversation_id == conversation_id, Handoff.state.in_(OPEN_STATES)
            )
        )

    async def _for_update(self, session: AsyncSession, handoff_id: int, staff: Staff) -> Handoff:
        handoff = await session.get(Handoff, handoff_id, with_for_update=True)
        if handoff is None or not _visible(handoff, staff):
            raise not_found()
        return handoff

    async def _position(self, session: AsyncSession, handoff: Handoff) -> int | None:
        if handoff.state not in QUEUED_STATES:
            return None
        ahead = await session.scalar(
            select(func.count())
            .select_from(Handoff)
            .where(
                Handoff.state.in_(QUEUED_STATES),
                or_(
                    Handoff.requested_at < handoff.requested_at,
                    (Handoff.requested_at == handoff.requested_at) & (Handoff.id < handoff.id),
                ),
            )
        )
        return int(ahead or 0) + 1

    def _say(
        self,
        session: AsyncSession,
        handoff: Handoff,
        sender: str,
        text: str,
        staff_name: str | None,
    ) -> HandoffMessage:
        message = HandoffMessage(
            handoff_id=handoff.id,
            sender=sender,
            staff_name=staff_name,
            text_enc=self._cipher.encrypt(text),
            at=self._clock(),
        )
        session.add(message)
        return message

    async def _notify(
        self, session: AsyncSession, handoff: Handoff, kind: str, text: str, now: datetime
    ) -> None:
        await enqueue(
            session,
            self._cipher,
            conversation_id=handoff.conversation_id,
            kind=kind,
            text=text,
            now=now,
        )


async def _new_handoff(
    session: AsyncSession,
    conversation_id: str,
    township: str | None,
    reason: str,
    state: str,
    now: datetime,
) -> Handoff:
    handoff = Handoff(
        conversation_id=conversation_id,
        channel=conversation_id.partition(":")[0],
        township=township,
        reason=reason,
        state=state,
        requested_at=now,
    )
    session.add(handoff)
    await session.flush()
    return handoff


def _visible(handoff: Handoff, staff: Staff) -> bool:
    """District staff see every handoff; township staff their township's, and the
    unplaced ones while they wait in the shared queue or are their own."""
    if staff.township is None or handoff.township == staff.township:
        return True
    return handoff.township is None and (
        handoff.state in WAITING_STATES or handoff.taken_by == staff.id
    )
