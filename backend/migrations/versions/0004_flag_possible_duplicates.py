"""A second open application of one person and service is accepted and flagged for staff.

0003 refused it (a partial unique index). That refusal told whoever typed an ID number
that the person had applied, and let anyone who knew it lock the person out, so the
store now accepts the application and records in `possible_duplicate_of` the tracking
number of the oldest open application of the same service and keyed ID hash, for staff
to compare. This migration drops the unique index, keeps a plain one for that lookup,
and turns the `legacy_duplicate` marks of 0003 into the same flag. The downgrade marks
all but the oldest open application of each person and service again, as 0003 did, so
that its unique index can be built.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UNIQUE_INDEX = "uq_applications_open_per_applicant"
LOOKUP_INDEX = "ix_applications_service_type_id_number_hash"
# Frozen copy of backend.lifecycle.OPEN_STATUSES when this migration was written.
OPEN_STATUSES = ("submitted", "township_review", "district_review", "returned")


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
        sa.column("possible_duplicate_of", sa.String),
    )


def _later_open_duplicates(table: sa.Table) -> Iterator[tuple[str, list[int]]]:
    """(the oldest open application's tracking number, ids of the later open ones) for
    each person and service with more than one open application."""
    rows = op.get_bind().execute(
        sa.select(table.c.id, table.c.tracking_number, table.c.service_type, table.c.id_number_hash)
        .where(table.c.status.in_(OPEN_STATUSES))
        .order_by(table.c.service_type, table.c.id_number_hash, table.c.created_at, table.c.id)
    )
    for _, group in groupby(rows, key=lambda row: (row.service_type, row.id_number_hash)):
        oldest, *later = group
        if later:
            yield oldest.tracking_number, [row.id for row in later]


def _open_and_checked() -> sa.ColumnElement[bool]:
    return sa.and_(
        sa.column("status").in_(OPEN_STATUSES), sa.column("legacy_duplicate") == sa.false()
    )


def upgrade() -> None:
    op.drop_index(UNIQUE_INDEX, table_name="applications")
    op.create_index(LOOKUP_INDEX, "applications", ["service_type", "id_number_hash"])
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("possible_duplicate_of", sa.String(14), nullable=True))
    table = _applications()
    for oldest, later in list(_later_open_duplicates(table)):
        op.get_bind().execute(
            table.update().where(table.c.id.in_(later)).values(possible_duplicate_of=oldest)
        )
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("legacy_duplicate")


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column("legacy_duplicate", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    table = _applications()
    for _, later in list(_later_open_duplicates(table)):
        op.get_bind().execute(
            table.update().where(table.c.id.in_(later)).values(legacy_duplicate=True)
        )
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("possible_duplicate_of")
    op.drop_index(LOOKUP_INDEX, table_name="applications")
    op.create_index(
        UNIQUE_INDEX,
        "applications",
        ["service_type", "id_number_hash"],
        unique=True,
        sqlite_where=_open_and_checked(),
        postgresql_where=_open_and_checked(),
    )
