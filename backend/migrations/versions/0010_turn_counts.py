"""Turn counts per day, channel and outcome, for the containment rate.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "turn_counts",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "outcome", name="pk_turn_counts"),
    )
    op.create_table(
        "turn_batches",
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_turn_batches"),
    )
    op.create_index("ix_turn_batches_received_at", "turn_batches", ["received_at"])


def downgrade() -> None:
    op.drop_table("turn_batches")
    op.drop_table("turn_counts")
