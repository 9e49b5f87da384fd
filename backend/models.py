"""Database tables of the status store.

Personal data (name, ID number, phone, and the free-text details, which can hold names
and phone numbers too) is stored only as Fernet ciphertext; ID number and phone also get a
keyed hash so that staff can search by them without decrypting every row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.types import TypeDecorator

from backend.console.roles import ROLES
from backend.contract import CAPTURE_REASONS, SERVICE_TYPES
from backend.handoff.states import HANDOFF_STATES
from backend.handoff.states import REASONS as HANDOFF_REASONS
from backend.inbox.states import INBOX_GROUP_STATES
from backend.learning.states import ANSWER_STATES, MODEL_ACTIONS, MODEL_STATES, ORIGINS, RUN_STATES
from backend.lifecycle import STATUSES
from backend.notifications.states import CHANNELS as NOTIFICATION_CHANNELS
from backend.notifications.states import KINDS as NOTIFICATION_KINDS
from backend.notifications.states import STATES as NOTIFICATION_STATES
from backend.ratings.levels import LEVELS as RATING_LEVELS
from backend.ratings.states import SUBJECTS as RATING_SUBJECTS
from backend.ratings.states import TASK_STATES

# Deterministic constraint names keep Alembic migrations reproducible across databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Base = declarative_base(metadata=metadata)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite has no time zone support)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Application(Base):
    __tablename__ = "applications"

    id = Column(Integer, primary_key=True)
    tracking_number = Column(String(14), nullable=False, unique=True)
    service_type = Column(String(32), nullable=False)
    applicant_name_enc = Column(Text, nullable=False)
    id_number_enc = Column(Text, nullable=False)
    id_number_hash = Column(String(64), nullable=False, index=True)
    phone_enc = Column(Text, nullable=False)
    phone_hash = Column(String(64), nullable=False, index=True)
    township = Column(String(50), nullable=False, index=True)
    # The details as encrypted JSON.
    details_enc = Column(Text, nullable=False)
    channel = Column(String(32), nullable=False)
    conversation_id = Column(String(255), nullable=False, index=True)
    status = Column(String(32), nullable=False, index=True)
    idempotency_key = Column(String(128), nullable=False, unique=True)
    # Keyed hash of the create request: a reused idempotency key with a different
    # request is an error, not a silent replay of someone else's application.
    request_fingerprint = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    status_changed_at = Column(UTCDateTime, nullable=False)
    # Version of the privacy notice the resident was shown; null before it was recorded.
    privacy_notice = Column(String(32), nullable=True)
    # When the personal fields were erased at the end of the retention period.
    anonymised_at = Column(UTCDateTime, nullable=True)
    # For staff only: the tracking number of the oldest open application of the same
    # service and keyed ID hash when this one was made (backend/store.py). A second
    # application is accepted, not refused: a refusal would tell whoever typed the ID
    # number that the person has applied, and let anyone lock the person out.
    possible_duplicate_of = Column(String(14), nullable=True)

    history = relationship(
        "StatusChange",
        back_populates="application",
        order_by="StatusChange.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("service_type", SERVICE_TYPES), name="service_type"),
        # The lookup of a person's open applications of a service at each create.
        Index("ix_applications_service_type_id_number_hash", "service_type", "id_number_hash"),
    )


class StatusChange(Base):
    __tablename__ = "status_history"

    id = Column(Integer, primary_key=True)
    application_id = Column(
        Integer, ForeignKey("applications.id", ondelete="CASCADE"), nullable=False, index=True
    )
    from_status = Column(String(32), nullable=True)
    to_status = Column(String(32), nullable=False)
    actor = Column(String(64), nullable=False)
    note = Column(Text, nullable=True)
    changed_at = Column(UTCDateTime, nullable=False)

    application = relationship("Application", back_populates="history")


class TrackingCounter(Base):
    """Last sequence number handed out per local day (YYYYMMDD)."""

    __tablename__ = "tracking_counters"

    day = Column(String(8), primary_key=True)
    last_value = Column(Integer, nullable=False)


class ProofFailure(Base):
    """A lookup attempt that did not succeed (wrong proof, unknown number), for throttling.

    Kept in the database rather than in memory so that every instance of the store
    counts the same failures.
    """

    __tablename__ = "proof_failures"

    id = Column(Integer, primary_key=True)
    scope = Column(String(16), nullable=False)
    subject = Column(String(64), nullable=False)
    failed_at = Column(UTCDateTime, nullable=False, index=True)

    __table_args__ = (Index("ix_proof_failures_scope_subject", "scope", "subject", "failed_at"),)


class InboxGroup(Base):
    """Similar questions the assistant could not answer, handled by staff as one.

    A captured question joins the open group whose shingles overlap its own enough
    (backend/grouping.py), or starts one. Its text stays in its items (encrypted); the
    group keeps only keyed hashes of the first question's shingles, to match others.
    """

    __tablename__ = "inbox_groups"

    id = Column(Integer, primary_key=True)
    shingle_count = Column(Integer, nullable=False)
    state = Column(String(16), nullable=False, index=True)
    created_at = Column(UTCDateTime, nullable=False)
    last_seen_at = Column(UTCDateTime, nullable=False, index=True)
    # How staff handled it: the label assigned (an intent or `faq/<topic>`), the reply
    # sent (encrypted: it may repeat what the resident wrote), the reason dismissed.
    label = Column(String(100), nullable=True)
    reply_enc = Column(Text, nullable=True)
    # A new FAQ topic drafted for the group: JSON with topic, title, answer, source and
    # review date (the metadata the knowledge base requires), for the learning loop.
    draft = Column(Text, nullable=True)
    dismiss_reason = Column(String(200), nullable=True)
    # A group already answered that this one resembles: its reply is offered to staff.
    similar_to = Column(Integer, ForeignKey("inbox_groups.id"), nullable=True)
    handled_by = Column(String(64), nullable=True)
    handled_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (CheckConstraint(_in("state", INBOX_GROUP_STATES), name="state"),)


class InboxShingle(Base):
    """Inverted index of the groups' shingles: the candidates for a new question are the
    groups that share a shingle with it, found without reading every group."""

    __tablename__ = "inbox_shingles"

    group_id = Column(Integer, ForeignKey("inbox_groups.id", ondelete="CASCADE"), primary_key=True)
    shingle = Column(String(16), primary_key=True)

    __table_args__ = (Index("ix_inbox_shingles_shingle", "shingle", "group_id"),)


class InboxItem(Base):
    """One captured turn: what the resident wrote, what the model guessed, what the
    resident was told."""

    __tablename__ = "inbox_items"

    id = Column(Integer, primary_key=True)
    capture_id = Column(String(64), nullable=False, unique=True)
    group_id = Column(Integer, ForeignKey("inbox_groups.id"), nullable=False, index=True)
    reason = Column(String(16), nullable=False)
    channel = Column(String(32), nullable=False)
    conversation_id = Column(String(255), nullable=False, index=True)
    township = Column(String(50), nullable=True)
    text_enc = Column(Text, nullable=False)
    reply_enc = Column(Text, nullable=True)
    # The model's guesses as JSON ([{"name", "confidence"}], best first); `top_label` is
    # the best topic, or the best intent when no topic was guessed (the "missed topics").
    intents = Column(Text, nullable=False)
    topics = Column(Text, nullable=False)
    top_label = Column(String(100), nullable=True, index=True)
    model = Column(String(200), nullable=True)
    occurred_at = Column(UTCDateTime, nullable=False, index=True)
    received_at = Column(UTCDateTime, nullable=False)
    # A did-you-mean the resident answered by picking a topic: a confirmed example.
    resolved_label = Column(String(100), nullable=True)
    resolved_at = Column(UTCDateTime, nullable=True)
    # An admin kept it out of training (a wrong did-you-mean press, a stray question in
    # an assigned group).
    training_excluded = Column(Boolean, nullable=False, default=False, server_default=text("false"))

    group = relationship("InboxGroup")

    __table_args__ = (
        CheckConstraint(_in("reason", CAPTURE_REASONS), name="reason"),
        Index(
            "ix_inbox_items_unresolved",
            "group_id",
            "occurred_at",
            sqlite_where=text("resolved_label IS NULL"),
            postgresql_where=text("resolved_label IS NULL"),
        ),
    )


class StaffAccount(Base):
    """A console login. `township` limits a staff member to one of the district's units
    (their applications, residents and questions); null means the whole district."""

    __tablename__ = "staff_accounts"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(64), nullable=False)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False)
    township = Column(String(50), nullable=True)
    active = Column(Boolean, nullable=False, default=True)
    # Raised on logout, password change and deactivation: every session issued before
    # carries the old value and is refused, on every instance of the store.
    session_epoch = Column(Integer, nullable=False, default=0)
    created_at = Column(UTCDateTime, nullable=False)
    last_login_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)


class AuditEntry(Base):
    """Who did what in the console, including every view of unmasked personal data."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False, index=True)
    account_id = Column(Integer, ForeignKey("staff_accounts.id"), nullable=True, index=True)
    # The name at the time, kept if the account is renamed; for failed logins, the
    # name that was tried.
    username = Column(String(64), nullable=False)
    action = Column(String(64), nullable=False, index=True)
    target = Column(String(100), nullable=True)
    reason = Column(String(200), nullable=True)
    # A pseudonym of the client's address (personaldata.masks.pseudonym), not the address.
    client = Column(String(32), nullable=True)


class Notification(Base):
    """A message for a resident, kept until their channel has delivered it
    (backend/notifications/operations.py): a staff reply, a status change, a handoff message, a
    rating invitation. The text is encrypted (it may name the resident); the error
    recorded is a code from the contract, never the channel's own words."""

    __tablename__ = "notifications"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    kind = Column(String(32), nullable=False)
    text_enc = Column(Text, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    state = Column(String(16), nullable=False)
    attempts = Column(Integer, nullable=False)
    next_attempt_at = Column(UTCDateTime, nullable=False)
    # The Rasa replica delivering it, until when; another may claim it after that.
    claimed_by = Column(String(64), nullable=True)
    claimed_until = Column(UTCDateTime, nullable=True)
    delivered_at = Column(UTCDateTime, nullable=True)
    last_error = Column(String(32), nullable=True)

    __table_args__ = (
        CheckConstraint(_in("state", NOTIFICATION_STATES), name="state"),
        CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),
        CheckConstraint(_in("channel", NOTIFICATION_CHANNELS), name="channel"),
        # Each claim looks for a channel's pending notices that are due.
        Index(
            "ix_notifications_state_channel_next_attempt_at", "state", "channel", "next_attempt_at"
        ),
    )


class Handoff(Base):
    """A resident's request for a person, from the queue to the hand-back.

    At most one is open per conversation (a partial unique index), so that every replica
    of the assistant routes a resident's message the same way.
    """

    __tablename__ = "handoffs"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    township = Column(String(50), nullable=True)
    reason = Column(String(16), nullable=False)
    state = Column(String(16), nullable=False, index=True)
    requested_at = Column(UTCDateTime, nullable=False)
    taken_at = Column(UTCDateTime, nullable=True)
    taken_by = Column(Integer, ForeignKey("staff_accounts.id"), nullable=True)
    # Forwarded to one colleague: only they (and admins) take it from the queue.
    forwarded_to = Column(Integer, ForeignKey("staff_accounts.id"), nullable=True)
    closed_at = Column(UTCDateTime, nullable=True)

    messages = relationship(
        "HandoffMessage", order_by="HandoffMessage.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(_in("state", HANDOFF_STATES), name="state"),
        CheckConstraint(_in("reason", HANDOFF_REASONS), name="reason"),
        Index(
            "uq_handoffs_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("state != 'closed'"),
            postgresql_where=text("state != 'closed'"),
        ),
    )


class HandoffMessage(Base):
    """What the resident and staff said to each other during a handoff."""

    __tablename__ = "handoff_messages"

    id = Column(Integer, primary_key=True)
    handoff_id = Column(
        Integer, ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    sender = Column(String(16), nullable=False)
    staff_name = Column(String(64), nullable=True)
    text_enc = Column(Text, nullable=False)
    at = Column(UTCDateTime, nullable=False)


class Rating(Base):
    """An invitation to rate a finished service, and the answer once given.

    One per subject and round (round 2 is the follow-up after a 差评 was put right), so
    a resident is invited once and never again for the same thing.
    """

    __tablename__ = "ratings"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    township = Column(String(50), nullable=True)
    subject = Column(String(16), nullable=False)
    subject_ref = Column(String(32), nullable=False)
    service_type = Column(String(32), nullable=True)
    round = Column(Integer, nullable=False)
    invited_at = Column(UTCDateTime, nullable=False, index=True)
    answered_at = Column(UTCDateTime, nullable=True)
    level = Column(String(24), nullable=True)
    comment_enc = Column(Text, nullable=True)

    __table_args__ = (
        CheckConstraint(_in("subject", RATING_SUBJECTS), name="subject"),
        CheckConstraint(_in("level", RATING_LEVELS), name="level"),
        Index("uq_ratings_subject_round", "subject", "subject_ref", "round", unique=True),
    )


class Rectification(Base):
    """A 差评 to call back within a working day and put right within fifteen."""

    __tablename__ = "rectifications"

    id = Column(Integer, primary_key=True)
    rating_id = Column(Integer, ForeignKey("ratings.id"), nullable=False, unique=True)
    state = Column(String(16), nullable=False, index=True)
    opened_at = Column(UTCDateTime, nullable=False)
    callback_due = Column(Date, nullable=False)
    rectify_due = Column(Date, nullable=False)
    called_back_at = Column(UTCDateTime, nullable=True)
    called_back_by = Column(String(64), nullable=True)
    rectified_at = Column(UTCDateTime, nullable=True)
    rectified_by = Column(String(64), nullable=True)
    # What staff learnt on the call and what they did (encrypted: it names people).
    notes_enc = Column(Text, nullable=True)

    rating = relationship("Rating")

    __table_args__ = (CheckConstraint(_in("state", TASK_STATES), name="state"),)


class TurnCount(Base):
    """How many resident turns each channel had per local day, by how they ended: the
    denominator of the containment rate (answered directly, clarified, unanswered)."""

    __tablename__ = "turn_counts"

    day = Column(Date, primary_key=True)
    channel = Column(String(32), primary_key=True)
    outcome = Column(String(16), primary_key=True)
    count = Column(Integer, nullable=False)


class TurnBatch(Base):
    """Batches of turn counts already added, so that a retried batch is not added twice."""

    __tablename__ = "turn_batches"

    batch_id = Column(String(64), primary_key=True)
    received_at = Column(UTCDateTime, nullable=False, index=True)


class KnowledgeAnswer(Base):
    """An FAQ answer written in the console: a new topic (a new label, which waits for an
    admin's approval) or a new text for a topic the repository has. Merged into the
    training data of the next run; source and review date are required like the
    repository's."""

    __tablename__ = "knowledge_answers"
    __table_args__ = (CheckConstraint(_in("state", ANSWER_STATES), name="state"),)

    id = Column(Integer, primary_key=True)
    topic = Column(String(100), nullable=False, unique=True)  # faq/<topic>
    title = Column(String(30), nullable=False)
    text = Column(Text, nullable=False)
    source = Column(String(300), nullable=False)
    reviewed = Column(Date, nullable=False)
    new_label = Column(Boolean, nullable=False)
    state = Column(String(16), nullable=False)
    written_by = Column(String(64), nullable=False)
    written_at = Column(UTCDateTime, nullable=False)
    approved_by = Column(String(64), nullable=True)
    approved_at = Column(UTCDateTime, nullable=True)
    # The inbox group whose questions it answers, when drafted there.
    group_id = Column(Integer, ForeignKey("inbox_groups.id", ondelete="SET NULL"), nullable=True)


class TrainedModel(Base):
    """A model the replicas can be given: its file (by content hash, the model server's
    ETag), what it was trained on and how it scored."""

    __tablename__ = "trained_models"
    __table_args__ = (
        CheckConstraint(_in("state", MODEL_STATES), name="state"),
        CheckConstraint(_in("origin", ORIGINS), name="origin"),
    )

    id = Column(Integer, primary_key=True)
    sha256 = Column(String(64), nullable=False, unique=True)
    size = Column(Integer, nullable=False)
    origin = Column(String(16), nullable=False)
    state = Column(String(16), nullable=False, index=True)
    created_at = Column(UTCDateTime, nullable=False)
    created_by = Column(String(64), nullable=False)
    # JSON: git commit and digests of the repository data and the console data file.
    manifest = Column(Text, nullable=False)
    # JSON: the held-out scores of this model and of the live one, and the gate's verdict.
    comparison = Column(Text, nullable=True)
    gate_allowed = Column(Boolean, nullable=True)


class ModelEvent(Base):
    """Who put which model live, when, instead of which, and why the gate was overridden."""

    __tablename__ = "model_events"
    __table_args__ = (CheckConstraint(_in("action", MODEL_ACTIONS), name="action"),)

    id = Column(Integer, primary_key=True)
    model_id = Column(Integer, ForeignKey("trained_models.id"), nullable=False)
    previous_model_id = Column(Integer, ForeignKey("trained_models.id"), nullable=True)
    action = Column(String(16), nullable=False)
    at = Column(UTCDateTime, nullable=False, index=True)
    by = Column(String(64), nullable=False)
    override_reason = Column(String(200), nullable=True)


class TrainingRun(Base):
    """One request to train: queued by an admin, claimed by the worker under a lease
    (renewed by its progress reports; a run whose worker died is queued again), with its
    progress, log and the console data file frozen when it was queued."""

    __tablename__ = "training_runs"
    __table_args__ = (CheckConstraint(_in("state", RUN_STATES), name="state"),)

    id = Column(Integer, primary_key=True)
    state = Column(String(16), nullable=False, index=True)
    stage = Column(String(16), nullable=True)
    percent = Column(Integer, nullable=False, default=0)
    requested_by = Column(String(64), nullable=False)
    requested_at = Column(UTCDateTime, nullable=False)
    started_at = Column(UTCDateTime, nullable=True)
    finished_at = Column(UTCDateTime, nullable=True)
    worker = Column(String(64), nullable=True)
    lease_until = Column(UTCDateTime, nullable=True)
    attempts = Column(Integer, nullable=False, default=0)
    log = Column(Text, nullable=False, default="")
    error = Column(String(300), nullable=True)
    # The console examples and answers (residents' words, masked): encrypted.
    console_data_enc = Column(Text, nullable=False)
    # JSON: which examples (inbox item ids, labels) and answers (topics) it holds.
    contents = Column(Text, nullable=False)
    model_id = Column(Integer, ForeignKey("trained_models.id"), nullable=True)
