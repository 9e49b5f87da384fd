"""Database operations of the status store, independent of HTTP."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, sessionmaker
from sqlalchemy.sql import ColumnElement

from backend.config import Settings
from backend.crypto import FieldCipher, constant_time_equals
from backend.errors import ApiError
from backend.lifecycle import (
    INITIAL_STATUS,
    NOTE_REQUIRED,
    STATUS_LABELS,
    WITHDRAWN,
    allowed_next,
    can_transition,
)
from backend.models import Application, ProofFailure, StatusChange, TrackingCounter
from backend.tracking import MAX_DAILY_SEQUENCE, format_tracking_number, local_day
from backend.validation import NewApplication, Proof, Transition

Clock = Callable[[], datetime]

RESIDENT_ACTOR = "resident"
WITHDRAWAL_NOTE = "居民撤回"
TRACKING_SCOPE = "tracking"
ID_NUMBER_SCOPE = "id_number"
CALLER_SCOPE = "caller"
# Staff act at human speed: losing the race for an application this often means
# something is wrong, not that one more try would help.
MAX_CHANGE_ATTEMPTS = 3
NEWEST_FIRST = (Application.created_at.desc(), Application.id.desc())


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def not_found() -> ApiError:
    # Also the answer to a wrong proof, so that it reveals nothing about the application.
    return ApiError(404, "not_found", "未找到该办件，或验证信息不匹配")


def not_withdrawable(current: str) -> ApiError:
    message = (
        "该办件已撤回"
        if current == WITHDRAWN
        else f"该办件当前为“{STATUS_LABELS[current]}”，已不能撤回"
    )
    return ApiError(
        409,
        "not_withdrawable",
        message,
        current_status=current,
        current_status_label=STATUS_LABELS[current],
    )


def concurrent_change() -> ApiError:
    return ApiError(409, "concurrent_change", "该办件刚被他人修改，请刷新后重试")


def too_many_attempts(retry_after: int) -> ApiError:
    error = ApiError(
        429, "too_many_attempts", "验证失败次数过多，请稍后再试", retry_after=retry_after
    )
    error.headers["Retry-After"] = str(retry_after)
    return error


@dataclass(frozen=True)
class ProofAttempt:
    """A proof attempt, recorded as a failure of what it proves and of who asks."""

    subject: ProofFailure
    caller: ProofFailure

    @property
    def rows(self) -> tuple[ProofFailure, ProofFailure]:
        return self.subject, self.caller


@dataclass(frozen=True)
class SearchFilters:
    status: str | None = None
    service_type: str | None = None
    township: str | None = None
    id_number: str | None = None
    phone: str | None = None


class Store:
    def __init__(
        self,
        sessions: sessionmaker,
        cipher: FieldCipher,
        settings: Settings,
        clock: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self.cipher = cipher
        self._max_failures = settings.proof_max_failures
        self._window = timedelta(seconds=settings.proof_window_seconds)
        self._clock = clock

    async def create(self, new: NewApplication, idempotency_key: str) -> tuple[Application, bool]:
        """The application for this key, and whether this call created it."""
        fingerprint = self.cipher.keyed_hash("request", new.fingerprint_source())
        try:
            async with self._sessions() as session, session.begin():
                existing = await self._by_idempotency_key(session, idempotency_key)
                if existing is not None:
                    return self._replay(existing, fingerprint), False
                return await self._insert(session, new, idempotency_key, fingerprint), True
        except IntegrityError:
            # A concurrent request with the same key committed first: replay its result.
            async with self._sessions() as session:
                existing = await self._by_idempotency_key(session, idempotency_key)
            if existing is None:
                raise
            return self._replay(existing, fingerprint), False

    async def lookup(self, tracking_number: str, proof: Proof, caller: str) -> Application:
        """The application if the proof matches; otherwise not_found, or throttled."""
        attempt = await self._start_attempt(TRACKING_SCOPE, tracking_number, caller)
        async with self._sessions() as session:
            application = await self._load(session, tracking_number)
        if application is None or not self._proof_matches(application, proof):
            raise not_found()
        await self._succeeded(attempt)
        return application

    async def withdraw(self, tracking_number: str, proof: Proof | None, caller: str) -> Application:
        """Withdraw on the applicant's behalf, throttled like lookup.

        The conversation that submitted the application needs no proof; any other one
        needs the proof lookup needs.
        """
        attempt = await self._start_attempt(TRACKING_SCOPE, tracking_number, caller)
        async with self._sessions() as session:
            application = await self._load(session, tracking_number)
        if application is None or not self._is_applicant(application, proof, caller):
            raise not_found()
        await self._succeeded(attempt)
        return await self._withdraw(tracking_number)

    async def find_by_applicant(
        self, id_number: str, phone: str, caller: str, limit: int
    ) -> list[Application]:
        """The applications of this ID number registered with this phone, newest first.

        Finding none is a failed proof of the ID number, so that its phone number cannot
        be found by trying them out; finding some does not clear earlier failures.
        """
        id_hash = self.cipher.keyed_hash("id_number", id_number)
        attempt = await self._start_attempt(ID_NUMBER_SCOPE, id_hash, caller)
        async with self._sessions() as session:
            result = await session.scalars(
                select(Application)
                .options(selectinload(Application.history))
                .where(
                    Application.id_number_hash == id_hash,
                    Application.phone_hash == self.cipher.keyed_hash("phone", phone),
                )
                .order_by(*NEWEST_FIRST)
                .limit(limit)
            )
            applications = list(result)
        if applications:
            # Only this attempt stops counting: anyone can register their own phone with
            # someone else's ID number, so a success must not reset that ID's failures.
            await self._forget(ProofFailure.id.in_([row.id for row in attempt.rows]))
        return applications

    async def list_for_conversation(self, conversation_id: str, limit: int) -> list[Application]:
        async with self._sessions() as session:
            result = await session.execute(
                select(Application)
                .where(Application.conversation_id == conversation_id)
                .order_by(*NEWEST_FIRST)
                .limit(limit)
            )
            return list(result.scalars())

    async def search(
        self, filters: SearchFilters, limit: int, offset: int
    ) -> tuple[list[Application], int]:
        conditions = []
        if filters.status:
            conditions.append(Application.status == filters.status)
        if filters.service_type:
            conditions.append(Application.service_type == filters.service_type)
        if filters.township:
            conditions.append(Application.township == filters.township)
        if filters.id_number:
            id_hash = self.cipher.keyed_hash("id_number", filters.id_number)
            conditions.append(Application.id_number_hash == id_hash)
        if filters.phone:
            conditions.append(
                Application.phone_hash == self.cipher.keyed_hash("phone", filters.phone)
            )
        async with self._sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(Application).where(*conditions)
            )
            result = await session.execute(
                select(Application)
                .where(*conditions)
                .order_by(*NEWEST_FIRST)
                .limit(limit)
                .offset(offset)
            )
            return list(result.scalars()), int(total or 0)

    async def get(self, tracking_number: str) -> Application:
        async with self._sessions() as session:
            application = await self._load(session, tracking_number)
        if application is None:
            raise not_found()
        return application

    async def transition(self, tracking_number: str, change: Transition) -> Application:
        async with self._sessions() as session, session.begin():
            application = await self._load(session, tracking_number)
            if application is None:
                raise not_found()
            current = application.status
            if not can_transition(current, change.status):
                raise ApiError(
                    409,
                    "invalid_transition",
                    f"不能从“{STATUS_LABELS[current]}”变更为“{STATUS_LABELS[change.status]}”",
                    current_status=current,
                    allowed=allowed_next(current),
                )
            if change.status in NOTE_REQUIRED and not change.note:
                raise ApiError(
                    400,
                    "note_required",
                    f"变更为“{STATUS_LABELS[change.status]}”需要填写原因（note）",
                    field="note",
                )
            if not await self._change_status(
                session, application, change.status, change.actor, change.note
            ):
                raise concurrent_change()
        return application

    async def _withdraw(self, tracking_number: str) -> Application:
        # A lost race is decided by the status it lost to: a review step still allows
        # withdrawal, a decision or a concurrent withdrawal does not.
        for _ in range(MAX_CHANGE_ATTEMPTS):
            async with self._sessions() as session, session.begin():
                application = await self._load(session, tracking_number)
                if application is None:
                    raise not_found()
                if not can_transition(application.status, WITHDRAWN):
                    raise not_withdrawable(application.status)
                if await self._change_status(
                    session, application, WITHDRAWN, RESIDENT_ACTOR, WITHDRAWAL_NOTE
                ):
                    return application
        raise concurrent_change()

    async def _change_status(
        self,
        session: AsyncSession,
        application: Application,
        target: str,
        actor: str,
        note: str | None,
    ) -> bool:
        """Move the application on within the session's transaction.

        False if its status changed since it was loaded: the status condition makes
        two people acting at once safe, the second update matches no row instead of
        overwriting the first.
        """
        current = application.status
        now = self._clock()
        result = await session.execute(
            update(Application)
            .where(Application.id == application.id, Application.status == current)
            .values(status=target, status_changed_at=now)
        )
        if result.rowcount != 1:
            return False
        application.history.append(
            StatusChange(
                from_status=current, to_status=target, actor=actor, note=note, changed_at=now
            )
        )
        return True

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(select(1))

    async def _insert(
        self, session: AsyncSession, new: NewApplication, key: str, fingerprint: str
    ) -> Application:
        now = self._clock()
        day = local_day(now)
        sequence = await self._next_sequence(session, day)
        application = Application(
            tracking_number=format_tracking_number(day, sequence),
            service_type=new.service_type,
            applicant_name_enc=self.cipher.encrypt(new.applicant_name),
            id_number_enc=self.cipher.encrypt(new.id_number),
            id_number_hash=self.cipher.keyed_hash("id_number", new.id_number),
            phone_enc=self.cipher.encrypt(new.phone),
            phone_hash=self.cipher.keyed_hash("phone", new.phone),
            township=new.township,
            details=new.details,
            channel=new.channel,
            conversation_id=new.conversation_id,
            status=INITIAL_STATUS,
            idempotency_key=key,
            request_fingerprint=fingerprint,
            created_at=now,
            status_changed_at=now,
        )
        application.history = [
            StatusChange(
                from_status=None, to_status=INITIAL_STATUS, actor=RESIDENT_ACTOR, changed_at=now
            )
        ]
        session.add(application)
        await session.flush()
        return application

    async def _next_sequence(self, session: AsyncSession, day: date) -> int:
        """Next number of the day, in the caller's transaction.

        The counter row stays locked until the application is committed, so concurrent
        creates on PostgreSQL queue on it instead of handing out the same number.
        """
        key = f"{day:%Y%m%d}"
        insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        await session.execute(
            insert(TrackingCounter).values(day=key, last_value=0).on_conflict_do_nothing()
        )
        await session.execute(
            update(TrackingCounter)
            .where(TrackingCounter.day == key)
            .values(last_value=TrackingCounter.last_value + 1)
        )
        sequence = await session.scalar(
            select(TrackingCounter.last_value).where(TrackingCounter.day == key)
        )
        if sequence > MAX_DAILY_SEQUENCE:
            raise ApiError(503, "tracking_numbers_exhausted", "今日受理编号已用完，请明日再试")
        return sequence

    async def _by_idempotency_key(self, session: AsyncSession, key: str) -> Application | None:
        return await session.scalar(select(Application).where(Application.idempotency_key == key))

    def _replay(self, application: Application, fingerprint: str) -> Application:
        if not constant_time_equals(application.request_fingerprint, fingerprint):
            raise ApiError(409, "idempotency_conflict", "该幂等键已用于另一份不同的申请")
        return application

    async def _load(self, session: AsyncSession, tracking_number: str) -> Application | None:
        return await session.scalar(
            select(Application)
            .options(selectinload(Application.history))
            .where(Application.tracking_number == tracking_number)
        )

    def _is_applicant(self, application: Application, proof: Proof | None, caller: str) -> bool:
        if constant_time_equals(application.conversation_id, caller):
            return True
        return proof is not None and self._proof_matches(application, proof)

    def _proof_matches(self, application: Application, proof: Proof) -> bool:
        if proof.kind == "phone":
            return constant_time_equals(
                application.phone_hash, self.cipher.keyed_hash("phone", proof.value)
            )
        id_number = self.cipher.decrypt(application.id_number_enc)
        return constant_time_equals(id_number[-4:], proof.value)

    async def _start_attempt(self, scope: str, subject: str, caller: str) -> ProofAttempt:
        """Record a proof attempt as a failure of its subject and caller, unless throttled.

        Every step uses its own session, closed before the next one opens: a request
        holding one pooled connection while waiting for another deadlocks the pool
        once enough requests do so at the same time.
        """
        now = self._clock()
        attempt = ProofAttempt(
            subject=ProofFailure(scope=scope, subject=subject, failed_at=now),
            caller=ProofFailure(
                scope=CALLER_SCOPE, subject=self.cipher.keyed_hash("caller", caller), failed_at=now
            ),
        )
        # The attempt is recorded as a failure before the proof is checked: concurrent
        # guesses would otherwise all pass the limit before any of them was counted.
        async with self._sessions() as session, session.begin():
            # Rows are only needed until the window passes; pruning here keeps the table
            # small without a separate job.
            await session.execute(
                delete(ProofFailure).where(ProofFailure.failed_at <= now - self._window)
            )
            session.add_all(attempt.rows)
        async with self._sessions() as session:
            retry_after = max(
                [await self._seconds_blocked(session, row, now) for row in attempt.rows]
            )
        if retry_after:
            # A refused attempt checked nothing, so it is not a guess.
            await self._forget(ProofFailure.id.in_([row.id for row in attempt.rows]))
            raise too_many_attempts(retry_after)
        return attempt

    async def _succeeded(self, attempt: ProofAttempt) -> None:
        """The subject is proven: earlier typos no longer count, nor does this attempt."""
        await self._forget(
            or_(
                and_(
                    ProofFailure.scope == attempt.subject.scope,
                    ProofFailure.subject == attempt.subject.subject,
                ),
                ProofFailure.id == attempt.caller.id,
            )
        )

    async def _forget(self, condition: ColumnElement[bool]) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(ProofFailure).where(condition))

    async def _seconds_blocked(
        self, session: AsyncSession, attempt: ProofFailure, now: datetime
    ) -> int:
        """Seconds until the attempt's subject is below the failure limit again, or 0."""
        earlier = (
            await session.scalars(
                select(ProofFailure.failed_at)
                .where(
                    ProofFailure.scope == attempt.scope,
                    ProofFailure.subject == attempt.subject,
                    ProofFailure.failed_at > now - self._window,
                    ProofFailure.id != attempt.id,
                )
                .order_by(ProofFailure.failed_at)
            )
        ).all()
        if len(earlier) < self._max_failures:
            return 0
        # Attempts become possible again once enough failures have left the window.
        unblocked_at = earlier[len(earlier) - self._max_failures] + self._window
        return max(1, math.ceil((unblocked_at - now).total_seconds()))
