"""One open application per person and service: a partial unique index.

The index covers (service_type, id_number_hash) of open applications, so that of two
creates for the same person and service at once exactly one commits, on SQLite and
PostgreSQL. Databases from before may already hold such duplicates (residents and their
relatives applied again); the migration neither fails on them nor decides which one
counts: it keeps every application as it is, marks all but the oldest open one of each
person and service as `legacy_duplicate` (outside the index) and logs their tracking
numbers for staff to resolve. New duplicates of them are still refused by the store.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import logging
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEX = "uq_applications_open_per_applicant"
# Frozen copy of backend.lifecycle.OPEN_STATUSES when this migration was written.
OPEN_STATUSES = ("submitted", "township_review", "district_review", "returned")

logger = logging.getLogger("backend.migrations")


def _applications() -> sa.Table:
    return sa.table(
        "applications",
        sa.column("id", sa.Integer),
        sa.column("tracking_number", sa.String),
        sa.column("service_type", sa.String),
        sa.column("id_number_hash", sa.String),
        sa.column("status", sa.String),
        sa.column("created_at", sa.DateTime),
        sa.column("legacy_duplicate", sa.Boolean),
    )


def _mark_legacy_duplicates() -> None:
    table = _applications()
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(table.c.id, table.c.tracking_number, table.c.service_type, table.c.id_number_hash)
        .where(table.c.status.in_(OPEN_STATUSES))
        .order_by(table.c.service_type, table.c.id_number_hash, table.c.created_at, table.c.id)
    ).all()
    for (service, _hash), group in groupby(
        rows, key=lambda row: (row.service_type, row.id_number_hash)
    ):
        oldest, *later = group
        if not later:
            continue
        connection.execute(
            table.update()
            .where(table.c.id.in_([row.id for row in later]))
            .values(legacy_duplicate=True)
        )
        # Tracking numbers only: the hash and the person stay out of the log.
        logger.warning(
            "open %s applications of one person, kept for staff to resolve: %s",
            service,
            ", ".join(row.tracking_number for row in (oldest, *later)),
        )


def _open_and_checked() -> sa.ColumnElement[bool]:
    return sa.and_(
        sa.column("status").in_(OPEN_STATUSES), sa.column("legacy_duplicate") == sa.false()
    )


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column("legacy_duplicate", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _mark_legacy_duplicates()
    op.create_index(
        INDEX,
        "applications",
        ["service_type", "id_number_hash"],
        unique=True,
        sqlite_where=_open_and_checked(),
        postgresql_where=_open_and_checked(),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="applications")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("legacy_duplicate")
