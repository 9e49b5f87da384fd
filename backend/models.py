"""Database tables of the status store.

Personal data (name, ID number, phone, and the free-text details, which can hold names
and phone numbers too) is stored only as Fernet ciphertext; ID number and phone also get a
keyed hash so that staff can search by them without decrypting every row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.types import TypeDecorator

from backend.contract import SERVICE_TYPES
from backend.lifecycle import STATUSES

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
