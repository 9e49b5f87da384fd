"""Database operations of the status store, independent of HTTP.

Proof throttling (lookups, withdrawals, searches by applicant) follows the policy in
backend/throttling.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.config import Settings
from backend.crypto import FieldCipher, constant_time_equals
from backend.errors import ApiError
from backend.lifecycle import (
    APPROVED,
    INITIAL_STATUS,
    NOTE_REQUIRED,
    OPEN_STATUSES,
    REJECTED,
    STATUS_LABELS,
    WITHDRAWN,
    allowed_next,
    can_transition,
)
from backend.models import Application, ProofFailure, StatusChange, TrackingCounter
from backend.notifications.operations import enqueue
from backend.ratings.operations import Ratings, Subject
from backend.ratings.states import APPLICATION as APPLICATION_SUBJECT
from backend.resident_texts import ResidentTexts
from backend.throttling import ThrottlePolicy
from backend.tracking import MAX_DAILY_SEQUENCE, format_tracking_number, local_day
from backend.validation import NewApplication, Proof, Transition

Clock = Callable[[], datetime]
STATUS_CHANGE = "status_change"  # the notification kind
# A decision ends the service: the resident is invited to rate it (once).
DECIDED = frozenset({APPROVED, REJECTED})

RESIDENT_ACTOR = "resident"
WITHDRAWAL_NOTE = "居民撤回"
TRACKING_SCOPE = "tracking"
ID_NUMBER_SCOPE = "id_number"
CALLER_SCOPE = "caller"
PROOF_SCOPE = "proof"
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
    """A proof attempt, recorded as a failure of who asks, of what it proves (when it
    proves something) and of the proof it offers (when it offers one)."""

    caller: ProofFailure
    subject: ProofFailure | None = None
    proof: ProofFailure | None = None

    @property
    def rows(self) -> tuple[ProofFailure, ...]:
        return tuple(row for row in (self.subject, self.caller, self.proof) if row is not None)

    @property
    def ids(self) -> list[int]:
        return [row.id for row in self.rows]


@dataclass(frozen=True)
class SearchFilters:
    status: str | None = None
    service_type: str | None = None
    township: str | None = None
    id_number: str | None = None
    phone: str | None = None
    # Submitted at or after / before these moments (a date range, or overdue: still
    # open and submitted before the deadline's start).
    created_from: datetime | None = None
    created_before: datetime | None = None
    open_only: bool = False
    flagged_only: bool = False  # possible duplicates


class Store:
    """The store's operations. Each one uses a single session and runs its steps as
    transactions one after the other: it never holds a pooled connection while waiting
    for another, so no number of concurrent requests can deadlock the pool."""

    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        cipher: FieldCipher,
        settings: Settings,
        clock: Clock = utc_now,
        texts: ResidentTexts | None = None,
        ratings: Ratings | None = None,
    ) -> None:
        """With `texts` a staff status change notifies the resident in the domain's words
        (backend/resident_texts.py), and with `ratings` a decision invites a rating."""
        self._texts = texts
        self._ratings = ratings
        self._sessions = sessions
        self.cipher = cipher
        self._throttle = ThrottlePolicy.from_settings(settings)
        self._clock = clock

    @property
    def sessions(self) -> Callable[[], AsyncSession]:
        """The database sessions, for the console's services beside the store."""
        return self._sessions

    @property
    def clock(self) -> Clock:
        return self._clock

    def today(self) -> date:
        """The local day in 大安区 by the store's clock (ages are counted on it)."""
        return local_day(self._clock())

    async def create(self, new: NewApplication, idempotency_key: str) -> tuple[Application, bool]:
        """The application for this key, and whether this call created it.

        A person's second application for a service while one is open is created like
        any other and flagged for staff (`possible_duplicate_of`), never refused: a
        refusal would tell whoever typed the ID number that the person has applied, and
        let anyone who knows the number lock the person out of applying.
        """
        fingerprint = self.cipher.keyed_hash("request", new.fingerprint_source())
        async with self._sessions() as session:
            try:
                async with session.begin():
                    existing = await self._by_idempotency_key(session, idempotency_key)
                    if existing is not None:
                        return self._replay(existing, fingerprint), False
                    return await self._insert(session, new, idempotency_key, fingerprint), True
            except IntegrityError:
                # A concurrent request with the same key committed first: replay it.
                async with session.begin():
                    existing = await self._by_idempotency_key(session, idempotency_key)
                if existing is None:
                    raise
                return self._replay(existing, fingerprint), False

    async def by_key(self, idempotency_key: str, conversation_id: str) -> Application:
        """The application created with this key from this conversation, or not_found."""
        async with self._sessions() as session:
            application = await self._by_idempotency_key(session, idempotency_key)
        if application is None or not constant_time_equals(
            application.conversation_id, conversation_id
        ):
            raise not_found()
        return application

    async def lookup(self, tracking_number: str, proof: Proof, caller: str) -> Application:
        """The application if the proof matches; otherwise not_found, or throttled."""
        async with self._sessions() as session:
            application, attempt = await self._load_and_record(
                session, tracking_number, caller, proof
            )
            await self._refuse_if_throttled(
                session, attempt, subject=not self._submitted_from(application, caller)
            )
            if application is None or not self._proof_matches(application, proof):
                raise not_found()
            await self._forget(session, attempt)
            return application

    async def withdraw(self, tracking_number: str, proof: Proof | None, caller: str) -> Application:
        """Withdraw on the applicant's behalf, throttled like lookup.

        The conversation that submitted the application needs no proof; any other one
        needs the proof lookup needs.
        """
        async with self._sessions() as session:
            application, attempt = await self._load_and_record(
                session, tracking_number, caller, proof
            )
            own = self._submitted_from(application, caller)
            await self._refuse_if_throttled(session, attempt, subject=not own)
            if application is None or not (
                own or (proof is not None and self._proof_matches(application, proof))
            ):
                raise not_found()
            await self._forget(session, attempt)
            return await self._withdraw(session, tracking_number)

    async def find_by_applicant(
        self, id_number: str, phone: str, caller: str, limit: int
    ) -> list[Application]:
        """The applications of this ID number registered with this phone, newest first.

        Finding none is a failed proof of the ID number, so that its phone number cannot
        be found by trying them out.
        """
        id_hash = self.cipher.keyed_hash("id_number", id_number)
        async with self._sessions() as session:
            async with session.begin():
                attempt = await self._record_attempt(session, ID_NUMBER_SCOPE, id_hash, caller)
            await self._refuse_if_throttled(session, attempt, subject=True)
            async with session.begin():
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
                await self._forget(session, attempt)
            return applications

    async def list_for_conversation(self, conversation_id: str, limit: int) -> list[Application]:
        async with self._sessions() as session:
            result = await session.scalars(
                select(Application)
                .where(Application.conversation_id == conversation_id)
                .order_by(*NEWEST_FIRST)
                .limit(limit)
            )
            return list(result)

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
        if filters.created_from:
            conditions.append(Application.created_at >= filters.created_from)
        if filters.created_before:
            conditions.append(Application.created_at < filters.created_before)
        if filters.open_only:
            conditions.append(Application.status.in_(OPEN_STATUSES))
        if filters.flagged_only:
            conditions.append(Application.possible_duplicate_of.is_not(None))
        async with self._sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(Application).where(*conditions)
            )
            result = await session.scalars(
                select(Application)
                .where(*conditions)
                .order_by(*NEWEST_FIRST)
                .limit(limit)
                .offset(offset)
            )
            return list(result), int(total or 0)

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
            await self._tell_resident(session, application, change.note)
        return application

    async def _tell_resident(
        self, session: AsyncSession, application: Application, note: str | None
    ) -> None:
        """The notice of a staff change, and after a decision the invitation to rate, in
        the change's own transaction: never one without the other."""
        now = application.status_changed_at
        if self._texts is not None:
            await enqueue(
                session,
                self.cipher,
                conversation_id=application.conversation_id,
                kind=STATUS_CHANGE,
                text=self._texts.status_notice(application, note),
                now=now,
            )
        if self._ratings is not None and application.status in DECIDED:
            subject = Subject(
                APPLICATION_SUBJECT,
                application.tracking_number,
                application.conversation_id,
                application.township,
                application.service_type,
            )
            await self._ratings.invite(session, subject, now, application=application)

    async def _withdraw(self, session: AsyncSession, tracking_number: str) -> Application:
        # A lost race is decided by the status it lost to: a review step still allows
        # withdrawal, a decision or a concurrent withdrawal does not.
        for _ in range(MAX_CHANGE_ATTEMPTS):
            async with session.begin():
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
        id_hash = self.cipher.keyed_hash("id_number", new.id_number)
        application = Application(
            tracking_number=format_tracking_number(day, sequence),
            service_type=new.service_type,
            applicant_name_enc=self.cipher.encrypt(new.applicant_name),
            id_number_enc=self.cipher.encrypt(new.id_number),
            id_number_hash=id_hash,
            phone_enc=self.cipher.encrypt(new.phone),
            phone_hash=self.cipher.keyed_hash("phone", new.phone),
            township=new.township,
            details_enc=self.cipher.encrypt_json(new.details),
            channel=new.channel,
            conversation_id=new.conversation_id,
            privacy_notice=new.privacy_notice,
            possible_duplicate_of=await self._oldest_open(session, new.service_type, id_hash),
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

    async def _oldest_open(
        self, session: AsyncSession, service_type: str, id_hash: str
    ) -> str | None:
        """The tracking number of the person's oldest open application for the service.

        Asked after the day's counter row is taken (_next_sequence), which creates hold
        until they commit (on SQLite every transaction takes the write lock at its
        start): each create sees all those before it, so concurrent creates for one
        person are flagged too.
        """
        return await session.scalar(
            select(Application.tracking_number)
            .where(
                Application.service_type == service_type,
                Application.id_number_hash == id_hash,
                Application.status.in_(OPEN_STATUSES),
            )
            .order_by(Application.created_at, Application.id)
            .limit(1)
        )

    async def _by_idempotency_key(self, session: AsyncSession, key: str) -> Application | None:
        return await session.scalar(select(Application).where(Application.idempotency_key == key))

    def _replay(self, application: Application, fingerprint: str) -> Application:
        if not constant_time_equals(application.request_fingerprint, fingerprint):
            raise ApiError(409, "idempotency_conflict", "该幂等键已用于另一份不同的申请")
        return application

    async def _load(self, session: AsyncSession, tracking_number: str) -> Application | None:
        # populate_existing: a session reused after a lost race must see the new status.
        return await session.scalar(
            select(Application)
            .options(selectinload(Application.history))
            .where(Application.tracking_number == tracking_number)
            .execution_options(populate_existing=True)
        )

    @staticmethod
    def _submitted_from(application: Application | None, caller: str) -> bool:
        return application is not None and constant_time_equals(application.conversation_id, caller)

    def _proof_matches(self, application: Application, proof: Proof) -> bool:
        if proof.kind == "phone":
            return constant_time_equals(
                application.phone_hash, self.cipher.keyed_hash("phone", proof.value)
            )
        id_number = self.cipher.decrypt(application.id_number_enc)
        return constant_time_equals(id_number[-4:], proof.value)

    async def _load_and_record(
        self, session: AsyncSession, tracking_number: str, caller: str, proof: Proof | None
    ) -> tuple[Application | None, ProofAttempt]:
        async with session.begin():
            application = await self._load(session, tracking_number)
            attempt = await self._record_attempt(
                session, TRACKING_SCOPE, tracking_number, caller, proof
            )
        return application, attempt

    async def _record_attempt(
        self,
        session: AsyncSession,
        scope: str,
        subject: str,
        caller: str,
        proof: Proof | None = None,
    ) -> ProofAttempt:
        """Record the attempt as a failure of its subject and of its caller, in the
        session's transaction; committed before the limits are checked, so that
        concurrent attempts see each other (backend/throttling.py)."""
        now = self._clock()
        attempt = ProofAttempt(
            subject=ProofFailure(scope=scope, subject=subject, failed_at=now),
            caller=self._caller_failure(caller, now),
            proof=None
            if proof is None
            else ProofFailure(
                scope=PROOF_SCOPE,
                subject=self.cipher.keyed_hash("proof", f"{proof.kind}:{proof.value}"),
                failed_at=now,
            ),
        )
        await self._add_failures(session, attempt)
        return attempt

    def _caller_failure(self, caller: str, now: datetime) -> ProofFailure:
        return ProofFailure(
            scope=CALLER_SCOPE, subject=self.cipher.keyed_hash("caller", caller), failed_at=now
        )

    async def _add_failures(self, session: AsyncSession, attempt: ProofAttempt) -> None:
        # Rows are only needed until the window passes; pruning here keeps the table
        # small without a separate job.
        now = attempt.caller.failed_at
        await session.execute(
            delete(ProofFailure).where(ProofFailure.failed_at <= now - self._throttle.window)
        )
        session.add_all(attempt.rows)
        await session.flush()

    async def _refuse_if_throttled(
        self, session: AsyncSession, attempt: ProofAttempt, *, subject: bool
    ) -> None:
        """Raise 429 if the caller, or (when `subject`) the subject, must wait.

        `subject` is false for the conversation that submitted the application: others'
        failures on its number never hold it back.
        """
        now = attempt.caller.failed_at
        async with session.begin():
            retry_after = self._throttle.caller_retry_after(
                await self._other_failures(session, attempt.caller, now), now
            )
            for throttled in (attempt.subject, attempt.proof) if subject else ():
                if throttled is not None:
                    retry_after = max(
                        retry_after,
                        self._throttle.subject_retry_after(
                            await self._other_failures(session, throttled, now), now
                        ),
                    )
            if retry_after:
                # A refused attempt checked nothing, so it is not a guess.
                await session.execute(delete(ProofFailure).where(ProofFailure.id.in_(attempt.ids)))
        if retry_after:
            raise too_many_attempts(retry_after)

    async def _other_failures(
        self, session: AsyncSession, attempt: ProofFailure, now: datetime
    ) -> list[datetime]:
        """Times of the failures of the attempt's scope and subject in the window, but the
        attempt's own when it is recorded."""
        conditions = [
            ProofFailure.scope == attempt.scope,
            ProofFailure.subject == attempt.subject,
            ProofFailure.failed_at > now - self._throttle.window,
        ]
        if attempt.id is not None:
            conditions.append(ProofFailure.id != attempt.id)
        result = await session.scalars(
            select(ProofFailure.failed_at).where(*conditions).order_by(ProofFailure.failed_at)
        )
        return list(result)

    async def _forget(self, session: AsyncSession, attempt: ProofAttempt) -> None:
        """A successful attempt is no failure; earlier failures still count."""
        async with session.begin():
            await session.execute(delete(ProofFailure).where(ProofFailure.id.in_(attempt.ids)))
