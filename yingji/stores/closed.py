"""The final views of closed workflow runs (``closed_view``, migration 0020).

A closed run never changes again, so its view, read once by a query (which replays its whole
history on a worker), is kept here by workflow id *and* run id: a later run of the same id (a
reset, a continue-as-new, an id reused once Temporal has forgotten the old run) is another key
and never gets this run's view. A row is written once (``ON CONFLICT DO NOTHING``) and never
updated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_GET = text("SELECT CAST(view AS text) FROM closed_view WHERE workflow_id = :w AND run_id = :r")
_KEEP = text(
    "INSERT INTO closed_view (workflow_id, run_id, workflow_type, view, closed_at) "
    "VALUES (:w, :r, :t, CAST(:v AS jsonb), :c) ON CONFLICT DO NOTHING"
)


async def final_view(engine: AsyncEngine, workflow_id: str, run_id: str) -> str | None:
    """The kept view of the run (its JSON text), or None if it was never kept."""
    async with engine.connect() as conn:
        return (await conn.execute(_GET, {"w": workflow_id, "r": run_id})).scalar_one_or_none()


async def keep(
    engine: AsyncEngine,
    workflow_id: str,
    run_id: str,
    workflow_type: str,
    view_json: str,
    closed_at: datetime | None,
) -> bool:
    """Keep a closed run's final view (its JSON text). True if this call wrote it."""
    async with engine.begin() as conn:
        result = await conn.execute(
            _KEEP,
            {"w": workflow_id, "r": run_id, "t": workflow_type, "v": view_json, "c": closed_at},
        )
    return result.rowcount == 1


async def kept_runs(engine: AsyncEngine, workflow_id: str) -> list[dict[str, Any]]:
    """The runs of ``workflow_id`` whose view is kept (run id, type, closed_at), oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT run_id, workflow_type, closed_at, kept_at FROM closed_view "
                "WHERE workflow_id = :w ORDER BY kept_at, run_id"
            ),
            {"w": workflow_id},
        )
        return [dict(r) for r in rows.mappings()]
