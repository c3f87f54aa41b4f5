"""The two statements every projection makes, idempotent by construction.

A snapshot row replaces the stored one only when its sequence number is higher, so a retry or a
stale batch never goes back in time; events are inserted keyed by (owner, seq) and a repeat is
dropped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert_newer(
    conn: AsyncConnection, table: Table, key: str, row: dict[str, Any], seq: str
) -> bool:
    """Insert ``row``, or replace the stored one if ``row[seq]`` is higher. True if written."""
    stmt = insert(table).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={k: stmt.excluded[k] for k in row if k != key},
        where=table.c[seq] < stmt.excluded[seq],
    )
    return (await conn.execute(stmt)).rowcount == 1


async def insert_once(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert rows keyed by their primary key; those already there are dropped. Returns new."""
    if not rows:
        return 0
    stmt = insert(table).values(rows).on_conflict_do_nothing()
    result = await conn.execute(stmt.returning(*table.primary_key.columns))
    return len(result.all())
