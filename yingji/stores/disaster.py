"""The SQL of disaster processes that reads (the process writes its own line, ``disaster``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def list_disasters(
    engine: AsyncEngine, district: str, live: bool, limit: int
) -> list[dict[str, Any]]:
    """Processes of ``district`` from their register line, newest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT code, name, hazard, district, occurred_at, stable_on, final_due, closed, "
                "reports, late_reports, overdue_slots FROM disaster "
                "WHERE district = :d AND (NOT CAST(:live AS boolean) OR NOT closed) "
                "ORDER BY occurred_at DESC, code LIMIT :n"
            ),
            {"d": district, "live": live, "n": limit},
        )
        return [dict(r) for r in rows.mappings()]
