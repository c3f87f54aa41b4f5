"""Disaster process activities: the typhoon tally's relocation figures, and the projection."""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.disaster import DisasterProjection, TyphoonRelocation
from models.plan import ProjectionResult
from models.typhoon import EventRef
from yingji.core.tables import DisasterEventRow, DisasterReportRow, DisasterRow
from yingji.stores.projection import insert_once, upsert_newer


class DisasterActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @activity.defn(name="typhoon_relocation")
    async def typhoon_relocation(self, data: EventRef) -> TyphoonRelocation:
        """The typhoon tally's current 紧急转移安置 figures, so nobody types them twice."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT relocated, centralized, dispersed FROM typhoon_totals "
                        "WHERE event_id = :e"
                    ),
                    {"e": data.event_id},
                )
            ).first()
        if row is None:
            return TyphoonRelocation(relocated=0, centralized=0, dispersed=0)
        return TyphoonRelocation(relocated=row[0], centralized=row[1], dispersed=row[2])

    @activity.defn(name="project_disaster")
    async def project_disaster(self, data: DisasterProjection) -> ProjectionResult:
        v = data.view
        row = {
            "code": v.code,
            "workflow_id": data.workflow_id,
            "name": v.name,
            "hazard": v.hazard,
            "district": v.district,
            "occurred_at": v.occurred_at,
            "stable_on": v.stable_on,
            "final_due": v.final_due,
            "closed": v.closed,
            "latest": v.latest.model_dump() if v.latest else None,
            "reports": len(v.reports),
            "late_reports": sum(r.late for r in v.reports),
            "overdue_slots": v.overdue,
            "last_seq": v.last_seq,
        }
        async with self.engine.begin() as conn:
            applied = await upsert_newer(conn, DisasterRow.__table__, "code", row, "last_seq")
            if applied:
                await conn.execute(
                    delete(DisasterReportRow).where(DisasterReportRow.disaster_code == v.code)
                )
                await insert_once(
                    conn,
                    DisasterReportRow.__table__,
                    [
                        {
                            "disaster_code": v.code,
                            "report_id": r.report_id,
                            "kind": r.kind.value,
                            "slot": r.slot,
                            "as_of": r.as_of,
                            "submitted_at": r.submitted_at,
                            "late": r.late,
                            "status": r.status.value,
                            "indicators": r.indicators.model_dump(),
                            "towns": [t.model_dump() for t in r.towns],
                            "reviewer": r.reviewer,
                            "review_reason": r.review_reason,
                        }
                        for r in v.reports
                    ],
                )
            written = await insert_once(
                conn,
                DisasterEventRow.__table__,
                [{"disaster_code": v.code, **e.model_dump()} for e in data.events],
            )
        return ProjectionResult(
            events_written=written,
            events_already_present=len(data.events) - written,
            snapshot_applied=applied,
        )
