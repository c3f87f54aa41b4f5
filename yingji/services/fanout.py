"""叫应 at a city's scale, as the CLI and the console use it: issue, answer, show.

A warning is ``warning:{id}`` (type ``WarningFanout``); its batches are ``warning:{id}:{batch}``
(type ``WarningBatch``). An answer names a person by id, phone or name; it is routed to the batch
that calls that person, so the caller never needs to know the layout.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from models.common import CHINA_TZ
from models.fanout import (
    CHAINS_MAX,
    AckResult,
    AckRouted,
    FanoutAck,
    FanoutInput,
    FanoutIssue,
    FanoutView,
)
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.services.requests import start_once
from yingji.services.warning import NoOneToCall, rules_from, warning_workflow_id
from yingji.stores import fanout as store
from yingji.stores import responsible

#: How many times (half a second apart) an answer waits for its batch to start.
STARTING_TRIES = 20
#: The workflow types, as ``workflows/fanout.py`` registers them.
WORKFLOW_TYPE = "WarningFanout"
BATCH_TYPE = "WarningBatch"


def fanout_input(settings: Settings, issue: FanoutIssue) -> FanoutInput:
    return FanoutInput(
        issue=issue,
        rules=rules_from(settings),
        batch_size=settings.warning_batch_size,
        progress_seconds=settings.warning_progress_seconds,
    )


async def issue(
    client: Client,
    settings: Settings,
    data: FanoutIssue,
    task_queue: str | None = None,
    request_id: str | None = None,
    engine: AsyncEngine | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start the warning: it lays out its chains and starts its batches itself. A warning
    with nobody to call is refused here, naming the district and level."""
    if engine is not None:
        chains = await responsible.call_chains(
            engine, data.district, data.level.value, data.units, data.who.value
        )
        if not chains:
            raise NoOneToCall(
                f"district: nobody to call in {data.district} at level {data.level.value} "
                f"({data.who.label}); import them with `yingji responsible import`"
            )
        if len(chains) > CHAINS_MAX:
            raise NoOneToCall(
                f"units: {len(chains):,} call chains, more than the {CHAINS_MAX:,} one warning "
                "calls; issue one warning per part of the district (--unit)"
            )
    year = datetime.now(CHINA_TZ).year
    return await start_once(
        client,
        WORKFLOW_TYPE,
        fanout_input(settings, data),
        result_type=FanoutView,
        id=warning_workflow_id(data.warning_id),
        request_id=request_id,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(data.district, year),
    )


async def acknowledge(
    client: Client,
    engine: AsyncEngine,
    warning_id: str,
    data: FanoutAck,
    update_id: str | None = None,
) -> AckResult:
    """An answer, routed to the batch that calls the person it names."""
    person_id, batch_id = await store.route_ack(engine, warning_id, data.person)
    handle = client.get_workflow_handle(f"{warning_workflow_id(warning_id)}:{batch_id}")
    routed = AckRouted(person_id=person_id, via=data.via, actor=data.actor)
    for attempt in range(STARTING_TRIES):
        try:
            return await handle.execute_update(
                "acknowledge", routed, id=update_id, result_type=AckResult
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        # Not found: over, or (just after the warning was issued) not started yet.
        try:
            await handle.describe()
            break  # it exists, so it is over
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or attempt == STARTING_TRIES - 1:
                break
        await asyncio.sleep(0.5)
    # The batch is over (everyone answered, or the wait for late answers passed): an answer
    # already recorded is answered as it was; another comes too late.
    recorded = await store.recorded_ack(engine, warning_id, person_id)
    if recorded is None:
        raise store.AckRefused(
            f"person: the 叫应 that called {data.person} for warning {warning_id} is over"
        )
    return recorded


async def laid_out(client: Client, warning_id: str) -> FanoutView:
    """The warning's board once it has laid out its chains (just after it is issued)."""
    while True:
        view = await show(client, warning_id)
        if view.chains or view.finished:
            return view
        await asyncio.sleep(0.2)


async def show(client: Client, warning_id: str) -> FanoutView:
    return await client.get_workflow_handle(warning_workflow_id(warning_id)).query(
        "view", result_type=FanoutView
    )


async def kind(client: Client, warning_id: str) -> str:
    """The workflow type of a warning: ``WarningFanout``, or ``WarningCall`` (a warning issued
    before the fan-out, or loaded from a past year)."""
    described = await client.get_workflow_handle(warning_workflow_id(warning_id)).describe()
    return described.workflow_type
