"""Applications, status history, tracking counters and proof failures.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies: a migration must keep meaning what it meant when it was written.
STATUSES = (
    "submitted",
    "township_review",
    "district_review",
    "approved",
    "ready_for_pickup",
    "collected",
    "returned",
    "rejected",
    "withdrawn",
)
SERVICE_TYPES = ("elderly_card", "subsistence_allowance", "housing_renovation", "temporary_relief")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tracking_number", sa.String(14), nullable=False),
        sa.Column("service_type", sa.String(32), nullable=False),
        sa.Column("applicant_name_enc", sa.Text(), nullable=False),
        sa.Column("id_number_enc", sa.Text(), nullable=False),
        sa.Column("id_number_hash", sa.String(64), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("township", sa.String(50), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("request_fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
        sa.UniqueConstraint("tracking_number", name="uq_applications_tracking_number"),
        sa.UniqueConstraint("idempotency_key", name="uq_applications_idempotency_key"),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_applications_status"),
        sa.CheckConstraint(_in("service_type", SERVICE_TYPES), name="ck_applications_service_type"),
    )
    for column in ("id_number_hash", "phone_hash", "township", "conversation_id", "status"):
        op.create_index(f"ix_applications_{column}", "applications", [column])

    op.create_table(
        "status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_history"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_status_history_application_id_applications",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_status_history_application_id", "status_history", ["application_id"])

    op.create_table(
        "tracking_counters",
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_tracking_counters"),
    )

    op.create_table(
        "proof_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_proof_failures"),
    )
    op.create_index("ix_proof_failures_failed_at", "proof_failures", ["failed_at"])
    op.create_index(
        "ix_proof_failures_scope_subject", "proof_failures", ["scope", "subject", "failed_at"]
    )


def downgrade() -> None:
    op.drop_table("proof_failures")
    op.drop_table("tracking_counters")
    op.drop_table("status_history")
    op.drop_table("applications")
