"""The learning loop: console answers, training runs, the model registry and its history.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "knowledge_answers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("title", sa.String(30), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("reviewed", sa.Date, nullable=False),
        sa.Column("new_label", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("written_by", sa.String(64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("group_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_answers"),
        sa.UniqueConstraint("topic", name="uq_knowledge_answers_topic"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["inbox_groups.id"],
            name="fk_knowledge_answers_group_id_inbox_groups",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            _in("state", ("proposed", "approved")), name="ck_knowledge_answers_state"
        ),
    )
    op.create_table(
        "trained_models",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("comparison", sa.Text, nullable=True),
        sa.Column("gate_allowed", sa.Boolean, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trained_models"),
        sa.UniqueConstraint("sha256", name="uq_trained_models_sha256"),
        sa.CheckConstraint(
            _in("state", ("candidate", "active", "retired")), name="ck_trained_models_state"
        ),
        sa.CheckConstraint(
            _in("origin", ("repository", "console")), name="ck_trained_models_origin"
        ),
    )
    op.create_index("ix_trained_models_state", "trained_models", ["state"])
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("previous_model_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("override_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_model_events"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["trained_models.id"], name="fk_model_events_model_id_trained_models"
        ),
        sa.ForeignKeyConstraint(
            ["previous_model_id"],
            ["trained_models.id"],
            name="fk_model_events_previous_model_id_trained_models",
        ),
        sa.CheckConstraint(_in("action", ("activate", "rollback")), name="ck_model_events_action"),
    )
    op.create_index("ix_model_events_at", "model_events", ["at"])
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=True),
        sa.Column("percent", sa.Integer, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("console_data_enc", sa.Text, nullable=False),
        sa.Column("contents", sa.Text, nullable=False),
        sa.Column("model_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_runs"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["trained_models.id"], name="fk_training_runs_model_id_trained_models"
        ),
        sa.CheckConstraint(
            _in("state", ("queued", "running", "trained", "failed")), name="ck_training_runs_state"
        ),
    )
    op.create_index("ix_training_runs_state", "training_runs", ["state"])


def downgrade() -> None:
    op.drop_table("training_runs")
    op.drop_table("model_events")
    op.drop_table("trained_models")
    op.drop_table("knowledge_answers")
