"""Projection of plan lifecycle changes into PostgreSQL.

Idempotent by construction: events are keyed by (plan code, seq) and inserted with
``ON CONFLICT DO NOTHING``; the plan row is replaced only by a snapshot with a higher ``last_seq``;
revisions are keyed by (plan code, version). A retry, a replay or a duplicate call writes nothing
twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.plan import PlanProjection, PlanRow, ProjectionResult, RevisionRecord
from yingji.core.tables import Plan, PlanEventRow, PlanRevision
from yingji.stores.projection import insert_once, upsert_newer
from yingji.stores.unit import jurisdiction_level


class PlanActivities:
    """``bureau_district`` and ``bureau_level``: the configured district or city and its level,
    the level of a plan whose district the unit register does not know."""

    def __init__(
        self,
        engine: AsyncEngine,
        bureau_district: str | None = None,
        bureau_level: str | None = None,
    ) -> None:
        self.engine = engine
        self.bureau_district = bureau_district
        self.bureau_level = bureau_level

    @activity.defn(name="project_plan")
    async def project_plan(self, data: PlanProjection) -> ProjectionResult:
        row_in, revisions = _register_line(data)
        row = {
            **row_in.model_dump(mode="python"),
            "kind": row_in.kind.value,
            "level": row_in.level.value,
            "stage": row_in.stage.value,
            "workflow_id": data.workflow_id,
            "updated_at": datetime.now(UTC),
            "district_level": None,
        }
        async with self.engine.begin() as conn:
            if row_in.district is not None:
                row["district_level"] = await jurisdiction_level(
                    conn, row_in.district, self.bureau_district, self.bureau_level
                )
            applied = await upsert_newer(conn, Plan.__table__, "code", row, "last_seq")
            written = await insert_once(
                conn,
                PlanEventRow.__table__,
                [
                    {
                        "plan_code": row_in.code,
                        "seq": e.seq,
                        "at": e.at,
                        "kind": e.kind,
                        "version": e.version,
                        "stage_from": e.stage_from.value if e.stage_from else None,
                        "stage_to": e.stage_to.value,
                        "actor": e.actor,
                        "detail": e.detail,
                    }
                    for e in data.events
                ],
            )
            # A revision record never changes once opened.
            await insert_once(
                conn,
                PlanRevision.__table__,
                [
                    {
                        "plan_code": row_in.code,
                        "version": r.version,
                        "from_version": r.from_version,
                        # The revision's own time: a past step's ``at`` (yingji load), so the
                        # year-end summary counts it in the year it happened.
                        "started_at": r.started_at,
                        "causes": [t.cause.value for t in r.triggers],
                        # A trigger's ``at`` only when it had one: live rows stay as they were.
                        "triggers": [
                            t.model_dump(mode="json", exclude_none=True) for t in r.triggers
                        ],
                    }
                    for r in revisions
                ],
            )
        activity.logger.info(
            "plan projected",
            extra={"plan": row_in.code, "events_written": written, "snapshot_applied": applied},
        )
        return ProjectionResult(
            events_written=written,
            events_already_present=len(data.events) - written,
            snapshot_applied=applied,
        )


def _register_line(data: PlanProjection) -> tuple[PlanRow, list[RevisionRecord]]:
    """The register line and the revisions to record, from a projection of either shape."""
    if data.row is not None:
        return data.row, data.revisions
    assert data.view is not None, "a plan projection carries a row (or, from older runs, a view)"
    return PlanRow.of(data.view), data.view.revisions
