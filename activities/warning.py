"""Projection of 叫应 warnings: the warning row, each call, the event log; idempotent."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.plan import ProjectionResult
from models.warning import WarningProjection
from yingji.core.tables import WarningCall, WarningEventRow, WarningRow
from yingji.stores.projection import insert_once, upsert_newer


class WarningActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @activity.defn(name="project_warning")
    async def project_warning(self, data: WarningProjection) -> ProjectionResult:
        v = data.view
        row = {
            "warning_id": v.warning_id,
            "workflow_id": data.workflow_id,
            "title": v.title,
            "district": v.district,
            "issued_by": v.issued_by,
            "issued_at": v.issued_at,
            "finished": v.finished,
            "targets": v.targets,
            "answered": v.answered,
            "not_reached": v.not_reached,
            "call_response_rate": v.call_response_rate,
            "last_seq": v.last_seq,
        }
        async with self.engine.begin() as conn:
            applied = await upsert_newer(conn, WarningRow.__table__, "warning_id", row, "last_seq")
            if applied:
                await conn.execute(
                    delete(WarningCall).where(WarningCall.warning_id == v.warning_id)
                )
                await insert_once(
                    conn,
                    WarningCall.__table__,
                    [{"warning_id": v.warning_id, **c.model_dump(mode="python")} for c in v.calls],
                )
            written = await insert_once(
                conn,
                WarningEventRow.__table__,
                [{"warning_id": v.warning_id, **e.model_dump()} for e in data.events],
            )
        return ProjectionResult(
            events_written=written,
            events_already_present=len(data.events) - written,
            snapshot_applied=applied,
        )
