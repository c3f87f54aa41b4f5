"""Disaster process activities: the typhoon tally's relocation figures, and the projection."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.disaster import DisasterLine, DisasterProjection, ReportRecord, TyphoonRelocation
from models.plan import ProjectionResult
from models.typhoon import EventRef
from yingji.core.tables import DisasterEventRow, DisasterReportRow, DisasterRow
from yingji.stores.projection import insert_once, upsert_newer

#: The columns of a report that change after it is submitted: its review (and a correction).
REVIEWED = ("status", "reviewer", "review_reason", "indicators", "late")


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
        """The process's line (replaced only by a newer one), each report the batch touched
        (written in full: figures, towns, text, review) and the events, once each."""
        line, reports = _what_changed(data)
        row = {
            "code": line.code,
            "workflow_id": data.workflow_id,
            "name": line.name,
            "hazard": line.hazard,
            "district": line.district,
            "occurred_at": line.occurred_at,
            "stable_on": line.stable_on,
            "final_due": line.final_due,
            "closed": line.closed,
            "latest": line.latest.model_dump() if line.latest else None,
            "reports": line.reports,
            "late_reports": line.late_reports,
            "typhoon_event_id": line.typhoon_event_id,
            "overdue_slots": line.overdue,
            "last_seq": line.last_seq,
        }
        async with self.engine.begin() as conn:
            applied = await upsert_newer(conn, DisasterRow.__table__, "code", row, "last_seq")
            if reports:
                rows = [_report_row(line.code, r) for r in reports]
                stmt = insert(DisasterReportRow.__table__).values(rows)
                # What a review changes; the report's own words are written once, when it is
                # submitted (the workflow later drops them from its state).
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["disaster_code", "report_id"],
                        set_={k: stmt.excluded[k] for k in REVIEWED},
                    )
                )
            written = await insert_once(
                conn,
                DisasterEventRow.__table__,
                [{"disaster_code": line.code, **e.model_dump()} for e in data.events],
            )
        return ProjectionResult(
            events_written=written,
            events_already_present=len(data.events) - written,
            snapshot_applied=applied,
        )


def _report_row(code: str, r: ReportRecord) -> dict[str, Any]:
    return {
        "disaster_code": code,
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
        "by": r.by,
        "narrative": r.narrative,
        "explanation": r.explanation,
        "photos": r.photos,
        "relocation_from_typhoon": r.relocation_from_typhoon,
    }


def _what_changed(data: DisasterProjection) -> tuple[DisasterLine, list[ReportRecord]]:
    """The line and reports to write, from a projection of either shape."""
    if data.line is not None:
        return data.line, data.reports
    assert data.view is not None, (
        "a disaster projection carries a line (or, from older runs, a view)"
    )
    return DisasterLine.of(data.view), data.view.reports
