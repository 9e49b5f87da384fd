"""Encrypted details, the privacy notice shown, anonymisation time, longer conversation ids.

`details` (free text that can hold names and phone numbers) becomes Fernet ciphertext in
`details_enc`; existing rows are encrypted with the store's newest key, which the store
passes in (backend.db.upgrade_database) or the CLI reads from STORE_ENCRYPTION_KEY.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
import os

import sqlalchemy as sa
from alembic import op
from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copy of the column type this migration replaces.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _cipher() -> MultiFernet:
    config = op.get_context().config
    keys = (config.attributes.get("encryption_key") if config else None) or os.environ.get(
        "STORE_ENCRYPTION_KEY", ""
    )
    if not keys.strip():
        raise RuntimeError("migration 0002 needs STORE_ENCRYPTION_KEY to encrypt details")
    return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",")])


def _applications() -> sa.Table:
    return sa.table(
        "applications",
        sa.column("id", sa.Integer),
        sa.column("details", JSON_TYPE),
        sa.column("details_enc", sa.Text),
    )


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("details_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("privacy_notice", sa.String(32), nullable=True))
        batch.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
    connection = op.get_bind()
    table = _applications()
    rows = connection.execute(sa.select(table.c.id, table.c.details)).all()
    if rows:
        cipher = _cipher()
        for row_id, details in rows:
            token = cipher.encrypt(json.dumps(details, ensure_ascii=False, sort_keys=True).encode())
            connection.execute(
                table.update().where(table.c.id == row_id).values(details_enc=token.decode())
            )
    with op.batch_alter_table("applications") as batch:
        batch.alter_column("details_enc", existing_type=sa.Text(), nullable=False)
        batch.drop_column("details")
        batch.alter_column("conversation_id", existing_type=sa.String(128), type_=sa.String(255))


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("details", JSON_TYPE, nullable=True))
    connection = op.get_bind()
    table = _applications()
    rows = connection.execute(sa.select(table.c.id, table.c.details_enc)).all()
    if rows:
        cipher = _cipher()
        for row_id, token in rows:
            details = json.loads(cipher.decrypt(token.encode()))
            connection.execute(table.update().where(table.c.id == row_id).values(details=details))
    with op.batch_alter_table("applications") as batch:
        batch.alter_column("details", existing_type=JSON_TYPE, nullable=False)
        batch.drop_column("details_enc")
        batch.drop_column("privacy_notice")
        batch.drop_column("anonymised_at")
        batch.alter_column("conversation_id", existing_type=sa.String(255), type_=sa.String(128))
