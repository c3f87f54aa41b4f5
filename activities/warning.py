"""Projection of 叫应 warnings: the warning row, each call, the event log; idempotent."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.plan import ProjectionResult
from models.warning import WarningProjection
from yingji.tables import WarningCall, WarningEventRow, WarningRow


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
        table = WarningRow.__table__
        upsert = insert(table).values(row)
        upsert = upsert.on_conflict_do_update(
            index_elements=[table.c.warning_id],
            set_={k: upsert.excluded[k] for k in row if k != "warning_id"},
            where=table.c.last_seq < upsert.excluded.last_seq,
        )
        async with self.engine.begin() as conn:
            applied = (await conn.execute(upsert)).rowcount == 1
            if applied:
                await conn.execute(
                    delete(WarningCall).where(WarningCall.warning_id == v.warning_id)
                )
                await conn.execute(
                    insert(WarningCall.__table__).values(
                        [
                            {"warning_id": v.warning_id, **c.model_dump(mode="python")}
                            for c in v.calls
                        ]
                    )
                )
            written = 0
            if data.events:
                stmt = insert(WarningEventRow.__table__).values(
                    [{"warning_id": v.warning_id, **e.model_dump()} for e in data.events]
                )
                result = await conn.execute(
                    stmt.on_conflict_do_nothing().returning(WarningEventRow.__table__.c.seq)
                )
                written = len(result.all())
        return ProjectionResult(
            events_written=written,
            events_already_present=len(data.events) - written,
            snapshot_applied=applied,
        )
