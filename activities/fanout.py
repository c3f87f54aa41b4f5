"""Activities of fanned-out 叫应: lay a warning out, queue its calls, deliver them, project.

Queueing and delivery are apart: ``queue_calls`` only writes the notifications to the outbox (a
call is placed once its notification is there), ``deliver_calls`` takes them to the webhook
with a bounded number of tries and reports those it could not deliver (未送达) with why. A batch
never waits on the phone channel to go on with its timers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notify import REDIRECTED, REFUSED, NotifierActivities
from models.drill import Notification
from models.fanout import (
    BatchChains,
    BatchInput,
    BatchLook,
    BatchProjected,
    BatchProjection,
    CallChain,
    CallPerson,
    DeliverCalls,
    DeliverResult,
    FanoutInput,
    FanoutRow,
    QueueCalls,
    QueueResult,
    Undelivered,
    WarningPlan,
)
from yingji.core.tables import WarningRow
from yingji.stores import fanout as store
from yingji.stores import responsible
from yingji.stores.projection import upsert_newer

#: Tries of one notification within one delivery (a 5xx, a timeout, a network error).
DELIVERY_TRIES = 3
#: Notifications delivered at once.
DELIVERY_CONCURRENCY = 16


class FanoutActivities:
    def __init__(self, engine: AsyncEngine, notifier: NotifierActivities) -> None:
        self.engine, self.notifier = engine, notifier

    @activity.defn(name="plan_warning")
    async def plan_warning(self, data: FanoutInput) -> WarningPlan:
        """Resolve the warning's chains from the register and write them down once."""
        issue = data.issue
        found = await responsible.call_chains(
            self.engine, issue.district, issue.level.value, issue.units, issue.who.value
        )
        chains = [_chain(c) for c in found]
        batches = await store.write_plan(self.engine, issue.warning_id, chains, data.batch_size)
        gaps = await responsible.gaps(
            self.engine, issue.district, issue.level.value, issue.units, issue.who.value
        )
        return WarningPlan(
            issued_at=activity.info().scheduled_time or datetime.now(UTC),
            batches=batches,
            chains=len(chains),
            gaps=[f"{g.unit_name}（{g.unit_code}）" for g in gaps][:1000],
        )

    @activity.defn(name="batch_chains")
    async def batch_chains(self, data: BatchInput) -> BatchChains:
        chains, acks = await store.batch_chains(self.engine, data.warning_id, data.batch.batch_id)
        return BatchChains(chains=chains, acks=acks)

    @activity.defn(name="queue_calls")
    async def queue_calls(self, data: QueueCalls) -> QueueResult:
        source = activity.info().workflow_id
        return QueueResult(queued=await store.queue_calls(self.engine, data, source))

    @activity.defn(name="deliver_calls")
    async def deliver_calls(self, data: DeliverCalls) -> DeliverResult:
        """Take each queued call to the webhook: a 4xx or a redirect is 未送达 at once; a 5xx, a
        timeout or a network error is tried again, DELIVERY_TRIES times in all, then 未送达.
        Without a webhook the outbox and the log are the channel: nothing to deliver."""
        if not self.notifier.webhook_url:
            return DeliverResult(delivered=0)
        pending = await store.pending_delivery(self.engine, data.keys)
        gate = asyncio.Semaphore(DELIVERY_CONCURRENCY)
        delivered: list[str] = []
        failed: dict[str, str] = {}

        async def one(row: dict[str, Any]) -> None:
            message = Notification.model_validate(row)
            async with gate:
                for attempt in range(1, DELIVERY_TRIES + 1):
                    try:
                        await asyncio.to_thread(self.notifier._post, message)
                    except ApplicationError as err:
                        if err.type in (REFUSED, REDIRECTED):
                            failed[message.key] = err.message
                            return
                        if attempt == DELIVERY_TRIES:
                            reason = err.message.removesuffix(": will retry")
                            failed[message.key] = f"{reason} ({DELIVERY_TRIES} tries)"
                            return
                        await asyncio.sleep(attempt)
                    else:
                        delivered.append(message.key)
                        return
                    activity.heartbeat(len(delivered) + len(failed))

        await asyncio.gather(*(one(r) for r in pending))
        await store.mark_delivery(self.engine, delivered, failed)
        return DeliverResult(
            delivered=len(delivered),
            undelivered=[Undelivered(key=k, reason=r) for k, r in failed.items()],
        )

    @activity.defn(name="project_batch")
    async def project_batch(self, data: BatchProjection) -> BatchProjected | None:
        """The batch's chains in their rows; answers it had not heard of come back. (None in
        the histories of batches that began before answers were written here first.)"""
        learnt = await store.project_chains(
            self.engine, data.warning_id, data.chains, data.batch_id, data.final
        )
        return BatchProjected(acks=learnt)

    @activity.defn(name="look_rows")
    async def look_rows(self, data: BatchLook) -> BatchProjected:
        """Answers recorded in the rows of the given chains (their signal may never come)."""
        return BatchProjected(
            acks=await store.answers_of(self.engine, data.warning_id, data.chain_ids)
        )

    @activity.defn(name="project_fanout")
    async def project_fanout(self, data: FanoutRow) -> None:
        """The warning's line in ``warning`` (what the summary and the register read)."""
        row = data.model_dump()
        async with self.engine.begin() as conn:
            await upsert_newer(conn, WarningRow.__table__, "warning_id", row, "last_seq")


def _chain(found: Any) -> CallChain:
    """A chain of the register as the warning calls it."""
    return CallChain(
        chain_id=f"{found.unit_code}:{found.role}",
        unit_code=found.unit_code,
        unit_name=found.unit_name,
        town_code=found.town_code or found.unit_code,
        town_name=found.town_name or found.unit_name,
        role=found.role,
        persons=[
            CallPerson(person_id=p.person_id, name=p.name, phone=p.phone, order=p.order)
            for p in found.persons
        ],
    )
