"""Ratings (政务服务"好差评") and the rectification of 差评.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen copies of backend.ratings when this migration was written.
SUBJECTS = ("application", "inbox", "handoff")
LEVELS = ("very_satisfied", "satisfied", "fairly_satisfied", "dissatisfied", "very_dissatisfied")
TASK_STATES = ("open", "called_back", "rectified")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("township", sa.String(50), nullable=True),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("subject_ref", sa.String(32), nullable=False),
        sa.Column("service_type", sa.String(32), nullable=True),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("level", sa.String(24), nullable=True),
        sa.Column("comment_enc", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ratings"),
        sa.CheckConstraint(_in("subject", SUBJECTS), name="ck_ratings_subject"),
        sa.CheckConstraint(_in("level", LEVELS), name="ck_ratings_level"),
    )
    op.create_index("ix_ratings_conversation_id", "ratings", ["conversation_id"])
    op.create_index("ix_ratings_invited_at", "ratings", ["invited_at"])
    op.create_index(
        "uq_ratings_subject_round", "ratings", ["subject", "subject_ref", "round"], unique=True
    )
    op.create_table(
        "rectifications",
        sa.Column("id", sa.Integer),
        sa.Column(
            "rating_id",
            sa.Integer,
            sa.ForeignKey("ratings.id", name="fk_rectifications_rating_id_ratings"),
            nullable=False,
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("callback_due", sa.Date, nullable=False),
        sa.Column("rectify_due", sa.Date, nullable=False),
        sa.Column("called_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("called_back_by", sa.String(64), nullable=True),
        sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rectified_by", sa.String(64), nullable=True),
        sa.Column("notes_enc", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rectifications"),
        sa.UniqueConstraint("rating_id", name="uq_rectifications_rating_id"),
        sa.CheckConstraint(_in("state", TASK_STATES), name="ck_rectifications_state"),
    )
    op.create_index("ix_rectifications_state", "rectifications", ["state"])


def downgrade() -> None:
    op.drop_table("rectifications")
    op.drop_table("ratings")
