"""Typhoon activities: register the event, apply reports in batches, close intake, project."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from models.plan import ProjectionResult
from models.typhoon import (
    ApplyInput,
    ApplyResult,
    CloseResult,
    EventRef,
    RegisterInput,
    RegisterResult,
    TyphoonProjection,
)
from yingji.stores import typhoon as typhoon_store


class TyphoonActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @activity.defn(name="register_typhoon")
    async def register_typhoon(self, data: RegisterInput) -> RegisterResult:
        units, towns = await typhoon_store.register(self.engine, data.open, data.workflow_id)
        return RegisterResult(units=units, towns=towns)

    @activity.defn(name="apply_typhoon_reports")
    async def apply_reports(self, data: ApplyInput) -> ApplyResult:
        result = await typhoon_store.apply_batch(self.engine, data.event_id, data.batch)
        if result.reports_applied:
            activity.logger.info(
                "typhoon reports applied",
                extra={
                    "event": data.event_id,
                    "batch": data.batch,
                    "reports": result.reports_applied,
                    "relocated": result.district.relocated,
                },
            )
        return result

    @activity.defn(name="close_typhoon_intake")
    async def close_intake(self, data: EventRef) -> CloseResult:
        return CloseResult(closed=await typhoon_store.close_intake(self.engine, data.event_id))

    @activity.defn(name="project_typhoon")
    async def project_typhoon(self, data: TyphoonProjection) -> ProjectionResult:
        written = await typhoon_store.project(self.engine, data)
        return ProjectionResult(
            events_written=written,
            events_already_present=len(data.events) - written,
            snapshot_applied=True,
        )
