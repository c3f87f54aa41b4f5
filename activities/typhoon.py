"""Typhoon activities: register the event, apply reports in batches, close intake, project; the
response's pieces: the 街镇 an instruction goes to, shelters opened and closed, reporting rounds
and their reminders."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notify import NotifierActivities
from models.plan import ProjectionResult
from models.typhoon import (
    ApplyInput,
    ApplyResult,
    CloseResult,
    EventRef,
    RegisterInput,
    RegisterResult,
    RoundCheck,
    RoundOpen,
    RoundStatus,
    ShelterOpenInput,
    ShelterOpenResult,
    TownList,
    TownRef,
    TyphoonProjection,
)
from yingji.stores import typhoon as typhoon_store

#: Tries of one reminder's webhook delivery within a round check; then it stays in the outbox.
DELIVERY_TRIES = 2


class TyphoonActivities:
    def __init__(self, engine: AsyncEngine, notifier: NotifierActivities | None = None) -> None:
        self.engine = engine
        self.notifier = notifier

    @activity.defn(name="register_typhoon")
    async def register_typhoon(self, data: RegisterInput) -> RegisterResult:
        units, towns = await typhoon_store.register(self.engine, data.open, data.workflow_id)
        return RegisterResult(units=units, towns=towns)

    @activity.defn(name="apply_typhoon_reports")
    async def apply_reports(self, data: ApplyInput) -> ApplyResult:
        result = await typhoon_store.apply_batch(self.engine, data.event_id, data.batch)
        if result.reports_applied or result.shelter_reports_applied:
            activity.logger.info(
                "typhoon reports applied",
                extra={
                    "event": data.event_id,
                    "batch": data.batch,
                    "reports": result.reports_applied,
                    "shelter_reports": result.shelter_reports_applied,
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

    @activity.defn(name="typhoon_towns")
    async def towns(self, data: EventRef) -> TownList:
        found = await typhoon_store.towns(self.engine, data.event_id)
        return TownList(towns=[TownRef(code=c, name=n) for c, n in found])

    @activity.defn(name="typhoon_shelters")
    async def shelters(self, data: ShelterOpenInput) -> ShelterOpenResult:
        """Open (or close) shelters for the event; a code not in the district's register opens
        nothing and says why (the workflow refuses the request with it)."""
        if data.close:
            await typhoon_store.close_shelters(self.engine, data.event_id, data.codes, data.at)
            return ShelterOpenResult()
        opened, refused = await typhoon_store.open_shelters(
            self.engine, data.event_id, data.codes, data.at
        )
        return ShelterOpenResult(shelters=opened, refused=refused)

    @activity.defn(name="open_typhoon_round")
    async def open_round(self, data: RoundOpen) -> RoundStatus:
        units = await typhoon_store.open_round(self.engine, data)
        return RoundStatus(units=units, reported=0, late=[], missing=[], missing_count=units)

    @activity.defn(name="check_typhoon_round")
    async def check_round(self, data: RoundCheck) -> RoundStatus:
        """A round's status; at ``remind`` and ``escalate`` the missing units' officers are
        told (each notification once in the outbox, then to the webhook if there is one: a
        few tries, and one it cannot deliver stays in the outbox undelivered, logged)."""
        status, notes = await typhoon_store.check_round(self.engine, data)
        pending = await typhoon_store.queue_notifications(self.engine, notes)
        status.notified = len(notes)
        if pending and self.notifier is not None and self.notifier.webhook_url:
            by_key = {n.key: n for n in notes}
            delivered: list[str] = []
            for key in pending:
                for attempt in range(1, DELIVERY_TRIES + 1):
                    try:
                        await asyncio.to_thread(self.notifier._post, by_key[key])
                    except ApplicationError as err:
                        if attempt == DELIVERY_TRIES or err.non_retryable:
                            activity.logger.warning(
                                "round reminder undelivered", extra={"key": key, "why": err.message}
                            )
                            break
                        await asyncio.sleep(attempt)
                    else:
                        delivered.append(key)
                        break
                activity.heartbeat(len(delivered))
            await typhoon_store.mark_delivered(self.engine, delivered)
        if notes:
            activity.logger.info(
                "typhoon round notified",
                extra={
                    "event": data.event_id,
                    "round": data.no,
                    "stage": data.stage,
                    "notifications": len(notes),
                },
            )
        return status
