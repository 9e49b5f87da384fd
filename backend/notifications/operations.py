"""The notification outbox: messages for residents, kept until their channel delivered them.

Staff replies, status changes, handoff messages and rating invitations reach a resident
on the channel they used (WeChat, the web widget, REST). Channels fail (the WeChat API
is down, the widget is closed, the resident has not written for 48 hours), so a notice
is written here first and delivered by the Rasa replicas, which:

- claim due notices of their channels, each leased to the claiming worker for a while
  (`claim`): no other claim returns a leased notice, so two replicas never deliver the
  same notice at the same time;
- report each one `delivered`, or `failed` with an error code: a failure releases the
  lease and the notice is tried again after a capped exponential backoff
  (`DeliveryPolicy`), until it is dead after `notice_max_attempts` failures or
  `notice_max_age_days` days (backend/config.py). A resident who cannot be reached
  right now (DEFERRALS) is not a failure: the notice waits without counting an attempt.

A replica that dies mid-delivery reports nothing; its lease passes and another replica
claims the notice again. Delivery is at least once: a notice may reach a resident twice
(the first replica delivered, then died before reporting), never zero times while its
channel can still reach them.

Writing a notice: `enqueue(session, cipher, ...)` adds it to the caller's session, so
the staff console commits it in the same transaction as the change it tells of (a
status change is never saved without its notice, nor a notice without its change).
`Notifications.enqueue` is the same in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.crypto import FieldCipher
from backend.errors import ApiError
from backend.models import Notification
from backend.notifications.states import (
    DEAD,
    DEFERRALS,
    DELIVERED,
    ERRORS,
    KINDS,
    PENDING,
)
from backend.validation import conversation_id

Clock = Callable[[], datetime]

# A staff reply fits one WeChat message (2048 bytes, three per Chinese character) with
# the words that frame it.
MAX_TEXT_CHARS = 600


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    max_age: timedelta
    backoff_base: timedelta
    backoff_max: timedelta
    deferral: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            max_attempts=settings.notice_max_attempts,
            max_age=timedelta(days=settings.notice_max_age_days),
            backoff_base=timedelta(seconds=settings.notice_backoff_base_seconds),
            backoff_max=timedelta(seconds=settings.notice_backoff_max_seconds),
            deferral=timedelta(seconds=settings.notice_defer_seconds),
        )

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failure: base, twice that, … up to max."""
        # Capping the exponent first keeps the number small whatever `attempts` is.
        doubled = self.backoff_base * 2 ** min(attempts - 1, 32)
        return min(doubled, self.backoff_max)


@dataclass(frozen=True)
class Claim:
    """What a worker asks for: notices of these channels (of these conversations only,
    when given, due or not), at most `limit`, leased to it for `lease`."""

    channels: tuple[str, ...]
    worker_id: str
    limit: int
    lease: timedelta
    conversation_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ClaimedNotice:
    notification: Notification
    text: str


def channel_of(conversation: str) -> str:
    """The channel a conversation is on (`wechat:<OpenID>` is on `wechat`); 400 for an
    id of no channel."""
    return conversation_id(conversation).partition(":")[0]


def new_notice(
    cipher: FieldCipher, *, conversation_id: str, kind: str, text: str, now: datetime
) -> Notification:
    """A pending notice, checked and with its text encrypted; not yet in any session."""
    if kind not in KINDS:
        raise ApiError(400, "invalid_field", "未知的通知类型", field="kind")
    if not text.strip() or len(text) > MAX_TEXT_CHARS:
        raise ApiError(400, "invalid_field", f"通知内容应为 1–{MAX_TEXT_CHARS} 个字", field="text")
    return Notification(
        conversation_id=conversation_id,
        channel=channel_of(conversation_id),
        kind=kind,
        text_enc=cipher.encrypt(text.strip()),
        created_at=now,
        state=PENDING,
        attempts=0,
        next_attempt_at=now,
    )


async def enqueue(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    conversation_id: str,
    kind: str,
    text: str,
    now: datetime,
) -> Notification:
    """Add a notice for the resident of `conversation_id` to the session's transaction.

    For the staff console: call it inside the transaction that makes the change the
    notice tells of (`async with session.begin(): ...`), which commits both or neither.
    `kind` is one of KINDS; `text` (at most MAX_TEXT_CHARS) is what staff wrote or the
    console composed, stored encrypted; the Rasa server frames it with the kind's words.
    Raises ApiError (400) for an unknown kind, an empty or over-long text or a
    conversation id of no channel.
    """
    notice = new_notice(cipher, conversation_id=conversation_id, kind=kind, text=text, now=now)
    session.add(notice)
    await session.flush()
    return notice


def not_claimed() -> ApiError:
    return ApiError(409, "not_claimed", "该通知不由此进程投递（已投递，或租约已过期被他人领取）")


def notice_not_found() -> ApiError:
    return ApiError(404, "not_found", "没有这条通知")


class Notifications:
    """The outbox's operations, each in a transaction of its own (as backend/store.py's)."""

    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        cipher: FieldCipher,
        policy: DeliveryPolicy,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._policy = policy
        self._clock = clock

    async def enqueue(self, conversation_id: str, kind: str, text: str) -> Notification:
        """`enqueue` in a transaction of its own, for a notice that goes with no change."""
        async with self._sessions() as session, session.begin():
            return await enqueue(
                session,
                self._cipher,
                conversation_id=conversation_id,
                kind=kind,
                text=text,
                now=self._clock(),
            )

    async def claim(self, claim: Claim) -> list[ClaimedNotice]:
        """Lease up to `claim.limit` pending notices to the worker, oldest first.

        One UPDATE takes them: on PostgreSQL the rows another claim is taking are
        skipped (SKIP LOCKED) and the lease condition is checked again on each row it
        updates; SQLite runs one writer at a time. Either way no notice is leased to
        two claims at once.
        """
        now = self._clock()
        if claim.conversation_ids is not None and not await self._any_pending(claim):
            # The look-up made on every resident's message usually finds nothing: it
            # then only reads, and never waits for SQLite's write lock.
            return []
        async with self._sessions() as session, session.begin():
            if claim.conversation_ids is None:
                await self._bury_old(session, now)
            claimable = [
                Notification.state == PENDING,
                Notification.channel.in_(claim.channels),
                Notification.created_at > now - self._policy.max_age,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until <= now),
            ]
            if claim.conversation_ids is None:
                claimable.append(Notification.next_attempt_at <= now)
            else:
                claimable.append(Notification.conversation_id.in_(claim.conversation_ids))
            candidates = (
                select(Notification.id)
                .where(*claimable)
                .order_by(Notification.created_at, Notification.id)
                .limit(claim.limit)
                .with_for_update(skip_locked=True)
            )
            result = await session.execute(
                update(Notification)
                .where(Notification.id.in_(candidates.scalar_subquery()), *claimable)
                .values(claimed_by=claim.worker_id, claimed_until=now + claim.lease)
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            )
            ids = list(result.scalars())
            if not ids:
                return []
            notices = await session.scalars(
                select(Notification)
                .where(Notification.id.in_(ids))
                .order_by(Notification.created_at, Notification.id)
                .execution_options(populate_existing=True)
            )
            return [
                ClaimedNotice(notice, self._cipher.decrypt(notice.text_enc)) for notice in notices
            ]

    async def delivered(self, notice_id: int) -> Notification:
        """Mark the notice delivered, whoever holds its lease: it was given."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            notice = await self._load(session, notice_id)
            if notice.state != DELIVERED:
                notice.state = DELIVERED
                notice.delivered_at = now
                notice.claimed_until = None
            return notice

    async def failed(
        self, notice_id: int, worker_id: str, error: str, retry_after: int | None
    ) -> Notification:
        """Release the worker's lease; the notice waits (DEFERRALS), is tried again after
        the backoff, or is dead after the last attempt."""
        if error not in ERRORS:
            raise ApiError(400, "invalid_field", "未知的错误代码", field="error")
        now = self._clock()
        async with self._sessions() as session, session.begin():
            notice = await self._load(session, notice_id)
            leased = notice.claimed_until is not None and notice.claimed_until > now
            if notice.state != PENDING or notice.claimed_by != worker_id or not leased:
                raise not_claimed()
            notice.claimed_by = None
            notice.claimed_until = None
            notice.last_error = error
            wait = timedelta(seconds=retry_after) if retry_after else timedelta(0)
            if error in DEFERRALS:
                notice.next_attempt_at = now + (wait or self._policy.deferral)
                return notice
            notice.attempts += 1
            if notice.attempts >= self._policy.max_attempts:
                notice.state = DEAD
            notice.next_attempt_at = now + max(wait, self._policy.backoff(notice.attempts))
            return notice

    async def _any_pending(self, claim: Claim) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(Notification.id)
                .where(
                    Notification.conversation_id.in_(claim.conversation_ids or ()),
                    Notification.state == PENDING,
                )
                .limit(1)
            )
        return found is not None

    async def _bury_old(self, session: AsyncSession, now: datetime) -> None:
        """Notices nobody could deliver in `max_age` are dead: what they said is stale."""
        await session.execute(
            update(Notification)
            .where(
                Notification.state == PENDING,
                Notification.created_at <= now - self._policy.max_age,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until <= now),
            )
            .values(state=DEAD, claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )

    @staticmethod
    async def _load(session: AsyncSession, notice_id: int) -> Notification:
        # FOR UPDATE: a report and a claim of the same notice are taken one after the other.
        notice = await session.scalar(
            select(Notification)
            .where(Notification.id == notice_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if notice is None:
            raise notice_not_found()
        return notice
