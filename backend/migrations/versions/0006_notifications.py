"""The notification outbox: messages for residents until their channel delivered them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copies of the values when this migration was written.
STATES = ("pending", "delivered", "dead")
KINDS = ("staff_reply", "status_change", "handoff", "rating_invite")
CHANNELS = ("rest", "socketio", "wechat")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text_enc", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.CheckConstraint(_in("state", STATES), name="ck_notifications_state"),
        sa.CheckConstraint(_in("kind", KINDS), name="ck_notifications_kind"),
        sa.CheckConstraint(_in("channel", CHANNELS), name="ck_notifications_channel"),
    )
    op.create_index("ix_notifications_conversation_id", "notifications", ["conversation_id"])
    op.create_index(
        "ix_notifications_state_channel_next_attempt_at",
        "notifications",
        ["state", "channel", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("notifications")
