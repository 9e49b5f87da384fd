"""The staff inbox: captured questions the assistant could not answer, in groups.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copies of the values when this migration was written.
GROUP_STATES = ("open", "replied", "assigned", "drafted", "dismissed")
REASONS = ("fallback", "clarified", "out_of_scope", "form_stopped", "handoff")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "inbox_groups",
        sa.Column("id", sa.Integer),
        sa.Column("shingle_count", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("reply_enc", sa.Text, nullable=True),
        sa.Column("draft", sa.Text, nullable=True),
        sa.Column("dismiss_reason", sa.String(200), nullable=True),
        sa.Column(
            "similar_to",
            sa.Integer,
            sa.ForeignKey("inbox_groups.id", name="fk_inbox_groups_similar_to_inbox_groups"),
            nullable=True,
        ),
        sa.Column("handled_by", sa.String(64), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox_groups"),
        sa.CheckConstraint(_in("state", GROUP_STATES), name="ck_inbox_groups_state"),
    )
    op.create_index("ix_inbox_groups_state", "inbox_groups", ["state"])
    op.create_index("ix_inbox_groups_last_seen_at", "inbox_groups", ["last_seen_at"])
    op.create_table(
        "inbox_shingles",
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey(
                "inbox_groups.id",
                ondelete="CASCADE",
                name="fk_inbox_shingles_group_id_inbox_groups",
            ),
        ),
        sa.Column("shingle", sa.String(16)),
        sa.PrimaryKeyConstraint("group_id", "shingle", name="pk_inbox_shingles"),
    )
    op.create_index("ix_inbox_shingles_shingle", "inbox_shingles", ["shingle", "group_id"])
    op.create_table(
        "inbox_items",
        sa.Column("id", sa.Integer),
        sa.Column("capture_id", sa.String(64), nullable=False),
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("inbox_groups.id", name="fk_inbox_items_group_id_inbox_groups"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("township", sa.String(50), nullable=True),
        sa.Column("text_enc", sa.Text, nullable=False),
        sa.Column("reply_enc", sa.Text, nullable=True),
        sa.Column("intents", sa.Text, nullable=False),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("top_label", sa.String(100), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_label", sa.String(100), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox_items"),
        sa.CheckConstraint(_in("reason", REASONS), name="ck_inbox_items_reason"),
        sa.UniqueConstraint("capture_id", name="uq_inbox_items_capture_id"),
    )
    op.create_index("ix_inbox_items_group_id", "inbox_items", ["group_id"])
    op.create_index("ix_inbox_items_conversation_id", "inbox_items", ["conversation_id"])
    op.create_index("ix_inbox_items_top_label", "inbox_items", ["top_label"])
    op.create_index("ix_inbox_items_occurred_at", "inbox_items", ["occurred_at"])
    # The inbox lists unresolved questions by group: an index of just those rows.
    unresolved = sa.text("resolved_label IS NULL")
    op.create_index(
        "ix_inbox_items_unresolved",
        "inbox_items",
        ["group_id", "occurred_at"],
        sqlite_where=unresolved,
        postgresql_where=unresolved,
    )


def downgrade() -> None:
    op.drop_table("inbox_items")
    op.drop_table("inbox_shingles")
    op.drop_table("inbox_groups")
