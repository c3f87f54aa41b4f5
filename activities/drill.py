"""Projection of drills and programmes into PostgreSQL; idempotent like the plan projection."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.drill import DrillProjection, ProgrammeView
from models.plan import ProjectionResult
from yingji.core.tables import (
    CorrectiveActionRow,
    Drill,
    DrillEventRow,
    DrillFinding,
    DrillPlan,
    Programme,
)
from yingji.stores.projection import insert_once, upsert_newer
from yingji.stores.unit import jurisdiction_level


class DrillActivities:
    """``bureau_district`` and ``bureau_level``: as for plans (``activities/plan.py``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        bureau_district: str | None = None,
        bureau_level: str | None = None,
    ) -> None:
        self.engine = engine
        self.bureau_district = bureau_district
        self.bureau_level = bureau_level

    @activity.defn(name="project_drill")
    async def project_drill(self, data: DrillProjection) -> ProjectionResult:
        v = data.view
        row = {
            "code": v.code,
            "workflow_id": data.workflow_id,
            "name": v.name,
            "drill_type": v.drill_type.value,
            "scenario": v.scenario,
            "organiser": v.organiser,
            "site": v.site,
            "participants": v.participants,
            "programme_id": v.programme_id,
            "stage": v.stage.value,
            "scheduled_on": v.scheduled_on,
            "conducted_on": v.conduct.conducted_on if v.conduct else None,
            "participant_count": v.conduct.participant_count if v.conduct else None,
            "evaluation_due": v.evaluation_due,
            "evaluation_overdue": v.evaluation_overdue,
            "third_party_evaluation": v.evaluation.third_party if v.evaluation else None,
            "open_actions": v.open_actions,
            "overdue_actions": v.overdue_actions,
            "last_seq": v.last_seq,
            "updated_at": datetime.now(UTC),
            "district": v.district,
            "district_level": None,
        }
        async with self.engine.begin() as conn:
            if v.district is not None:
                row["district_level"] = await jurisdiction_level(
                    conn, v.district, self.bureau_district, self.bureau_level
                )
            applied = await upsert_newer(conn, Drill.__table__, "code", row, "last_seq")
            if applied:
                # The snapshot is the newest: its links, findings and actions are the truth.
                await self._replace_children(conn, data)
            written = await insert_once(
                conn,
                DrillEventRow.__table__,
                [
                    {
                        "drill_code": v.code,
                        "seq": e.seq,
                        "at": e.at,
                        "kind": e.kind,
                        "stage": e.stage.value,
                        "actor": e.actor,
                        "detail": e.detail,
                    }
                    for e in data.events
                ],
            )
        return ProjectionResult(
            events_written=written,
            events_already_present=len(data.events) - written,
            snapshot_applied=applied,
        )

    @staticmethod
    async def _replace_children(conn, data: DrillProjection) -> None:  # type: ignore[no-untyped-def]
        v = data.view
        for table in (DrillPlan, DrillFinding, CorrectiveActionRow):
            await conn.execute(delete(table).where(table.drill_code == v.code))
        if v.linked_plans:
            await conn.execute(
                insert(DrillPlan.__table__).values(
                    [{"drill_code": v.code, "plan_code": p} for p in v.linked_plans]
                )
            )
        if v.findings:
            await conn.execute(
                insert(DrillFinding.__table__).values(
                    [
                        {
                            "drill_code": v.code,
                            "number": f.number,
                            "severity": f.severity.value,
                            "category": f.category.value,
                            "description": f.description,
                            "plan_defect": f.plan_defect,
                            "plan_code": f.plan_code,
                        }
                        for f in v.findings
                    ]
                )
            )
        if v.actions:
            await conn.execute(
                insert(CorrectiveActionRow.__table__).values(
                    [
                        {
                            "drill_code": v.code,
                            "number": a.number,
                            "finding": a.finding,
                            "description": a.description,
                            "owner": a.owner,
                            "due_on": a.due_on,
                            "done_on": a.done_on,
                            "overdue": a.overdue,
                        }
                        for a in v.actions
                    ]
                )
            )

    @activity.defn(name="project_programme")
    async def project_programme(self, data: ProgrammeView) -> ProjectionResult:
        row = {
            "programme_id": data.programme_id,
            "unit": data.unit,
            "year": data.year,
            "items": [i.model_dump(mode="json") for i in data.items],
            "drills": [d.model_dump(mode="json") for d in data.drills],
            "revision": data.revision,
            "updated_at": datetime.now(UTC),
        }
        async with self.engine.begin() as conn:
            applied = await upsert_newer(conn, Programme.__table__, "programme_id", row, "revision")
        return ProjectionResult(
            events_written=0, events_already_present=0, snapshot_applied=applied
        )
