"""Key rotation: `python -m backend rotate-keys` re-encrypts every stored field.

To replace the Fernet key: put a new key first in STORE_ENCRYPTION_KEY (keeping the old
ones after it, comma-separated) and restart the store, which then encrypts new data with
it; run `python -m backend rotate-keys` with the same setting; then drop the old keys from
STORE_ENCRYPTION_KEY and restart again. Rotating twice is harmless. STORE_HASH_KEY cannot
be rotated this way: it keys the hashes used for search, which are compared, never
decrypted.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.crypto import FieldCipher
from backend.models import Application, InboxGroup, InboxItem

# Every encrypted column of every table; nullable ones are rotated where they hold a value.
ENCRYPTED_COLUMNS: dict[type, tuple[str, ...]] = {
    Application: ("applicant_name_enc", "id_number_enc", "phone_enc", "details_enc"),
    InboxItem: ("text_enc", "reply_enc"),
    InboxGroup: ("reply_enc",),
}
# Rows per transaction: short transactions keep the running store's writers waiting little.
BATCH_SIZE = 200


async def rotate_keys(sessions: Callable[[], AsyncSession], cipher: FieldCipher) -> int:
    """Re-encrypt every encrypted field with the newest key; returns how many rows were
    rewritten."""
    rotated = 0
    for table, names in ENCRYPTED_COLUMNS.items():
        rotated += await _rotate_table(sessions, cipher, table, names)
    return rotated


async def _rotate_table(
    sessions: Callable[[], AsyncSession],
    cipher: FieldCipher,
    table: type,
    names: tuple[str, ...],
) -> int:
    columns = [getattr(table, name) for name in names]
    rotated, last_id = 0, 0
    async with sessions() as session:
        while True:
            async with session.begin():
                rows = (
                    await session.execute(
                        select(table.id, *columns)
                        .where(table.id > last_id)
                        .order_by(table.id)
                        .limit(BATCH_SIZE)
                    )
                ).all()
                for row_id, *tokens in rows:
                    await session.execute(
                        update(table)
                        .where(table.id == row_id)
                        .values(
                            {
                                name: None if token is None else cipher.rotate(token)
                                for name, token in zip(names, tokens, strict=True)
                            }
                        )
                    )
            if not rows:
                return rotated
            rotated += len(rows)
            last_id = rows[-1][0]
