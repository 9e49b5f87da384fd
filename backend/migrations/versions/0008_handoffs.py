"""Handoffs to staff and the messages exchanged during them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen copies of backend.handoff.states when this migration was written.
STATES = ("waiting", "awaiting_message", "message_left", "active", "closed")
REASONS = ("asked", "form_stopped", "follow_up")
# Notices gain two kinds: a person took the conversation, and handed it back.
KINDS_BEFORE = ("staff_reply", "status_change", "handoff", "rating_invite")
KINDS = (*KINDS_BEFORE, "handoff_taken", "handoff_closed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _account(column: str) -> sa.Column:
    return sa.Column(
        column,
        sa.Integer,
        sa.ForeignKey("staff_accounts.id", name=f"fk_handoffs_{column}_staff_accounts"),
        nullable=True,
    )


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("township", sa.String(50), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        _account("taken_by"),
        _account("forwarded_to"),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
        sa.CheckConstraint(_in("state", STATES), name="ck_handoffs_state"),
        sa.CheckConstraint(_in("reason", REASONS), name="ck_handoffs_reason"),
    )
    op.create_index("ix_handoffs_conversation_id", "handoffs", ["conversation_id"])
    op.create_index("ix_handoffs_state", "handoffs", ["state"])
    op.create_index(
        "uq_handoffs_open_conversation",
        "handoffs",
        ["conversation_id"],
        unique=True,
        sqlite_where=sa.text("state != 'closed'"),
        postgresql_where=sa.text("state != 'closed'"),
    )
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer),
        sa.Column(
            "handoff_id",
            sa.Integer,
            sa.ForeignKey(
                "handoffs.id", ondelete="CASCADE", name="fk_handoff_messages_handoff_id_handoffs"
            ),
            nullable=False,
        ),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("staff_name", sa.String(64), nullable=True),
        sa.Column("text_enc", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_messages"),
    )
    op.create_index("ix_handoff_messages_handoff_id", "handoff_messages", ["handoff_id"])
    _notification_kinds(KINDS)


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM notifications WHERE kind IN ('handoff_taken', 'handoff_closed')")
    )
    _notification_kinds(KINDS_BEFORE)
    op.drop_table("handoff_messages")
    op.drop_table("handoffs")


def _notification_kinds(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("ck_notifications_kind", type_="check")
        batch.create_check_constraint("ck_notifications_kind", _in("kind", kinds))
