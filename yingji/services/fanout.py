"""叫应 at a city's scale, as the CLI and the console use it: issue, answer, show.

A warning is ``warning:{id}`` (type ``WarningFanout``); its batches are ``warning:{id}:{batch}``
(type ``WarningBatch``). An answer names a person by id, phone or name; it is routed to the batch
that calls that person, so the caller never needs to know the layout.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from models.common import CHINA_TZ
from models.fanout import (
    CHAINS_MAX,
    AckResult,
    ChainAck,
    FanoutAck,
    FanoutInput,
    FanoutIssue,
    FanoutView,
)
from yingji.core.logging import get_logger
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.services.requests import start_once
from yingji.services.views import closed_or_live
from yingji.services.warning import NoOneToCall, rules_from, warning_workflow_id
from yingji.stores import fanout as store
from yingji.stores import responsible

log = get_logger(__name__)

#: Refusals of a signal that pass (the server is busy or slow): tried again for this long.
PASSING = {
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.ABORTED,
}
SIGNAL_PATIENCE = 15.0
#: How long an answer to a warning just issued waits for its people to be written down.
LAYOUT_WAIT = 10.0
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
    with nobody to call is refused here, naming the district and level; so is an id used
    before, even once Temporal has forgotten that warning (its rows remain)."""
    if engine is not None:
        await _never_used(client, engine, data.warning_id)
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
    client: Client | None,
    engine: AsyncEngine,
    warning_id: str,
    data: FanoutAck,
    update_id: str | None = None,
) -> AckResult:
    """An answer: recorded in its chain's row at once (exactly once, whoever sends it again),
    then told to the batch that calls the person, which stops calling the chain. A batch not
    yet started reads it from the row when it starts; an answer after the batch ended is
    refused as too late. (``update_id`` is the request's id: the row makes a repeat harmless.)"""
    try:
        got = await store.answer(engine, warning_id, data.person, datetime.now(UTC))
    except store.AckRefused:
        if await store.laid_out(engine, warning_id):
            raise
        await _layout(engine, warning_id)  # just issued: its people are being written down
        got = await store.answer(engine, warning_id, data.person, datetime.now(UTC))
    at = got.at
    if got.tell and client is not None:
        await tell_batch(
            client,
            f"{warning_workflow_id(warning_id)}:{got.batch_id}",
            ChainAck(
                chain_id=got.chain_id,
                person_id=got.person_id,
                status=got.result.status,
                acked_at=at,
                response_seconds=got.result.response_seconds,
                via=data.via,
                actor=data.actor,
            ),
        )
    return got.result


async def _never_used(client: Client, engine: AsyncEngine, warning_id: str) -> None:
    try:
        await client.get_workflow_handle(warning_workflow_id(warning_id)).describe()
        return  # Temporal knows it: the start answers a repeat or refuses a reuse itself
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    if await store.known(engine, warning_id):
        raise NoOneToCall(
            f"warning_id: warning {warning_id} was issued before (codes are never reused)"
        )


async def _layout(engine: AsyncEngine, warning_id: str) -> None:
    """Wait (at most ``LAYOUT_WAIT`` seconds) for a warning just issued to write its people
    down; refused naming the warning if it does not."""
    deadline = asyncio.get_running_loop().time() + LAYOUT_WAIT
    while not await store.laid_out(engine, warning_id):
        if asyncio.get_running_loop().time() > deadline:
            raise store.AckRefused(
                f"warning_id: warning {warning_id} has nobody to answer: it was never issued, "
                f"or it is still laying out its calls (try again in a moment)"
            )
        await asyncio.sleep(0.2)


async def answered_here(engine: AsyncEngine, warning_id: str) -> bool:
    """Whether answers to this warning are recorded by :func:`acknowledge` (a fanned-out
    warning that has laid out its people) — without asking Temporal."""
    return await store.laid_out(engine, warning_id)


async def tell_batch(client: Client, batch_workflow_id: str, ack: ChainAck) -> None:
    """Signal the batch that the chain is answered, so that it stops calling it. The answer is
    already recorded: a batch not started yet (or ended) has it from its rows, and a signal the
    server keeps refusing (a busy workflow, a timeout) is given up after ``SIGNAL_PATIENCE``
    seconds with a warning: the batch then hears of it at its next look at its rows (its next
    round of calls, or its end), and the caller is still answered with the recorded answer."""
    handle = client.get_workflow_handle(batch_workflow_id)
    delay, waited = 0.1, 0.0
    while True:
        try:
            await handle.signal("answered", ack)
            return
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return
            if exc.status not in PASSING or waited >= SIGNAL_PATIENCE:
                _not_signalled(batch_workflow_id, ack, exc)
                return
        except Exception as exc:  # Temporal unreachable: the batch reads the row itself
            _not_signalled(batch_workflow_id, ack, exc)
            return
        await asyncio.sleep(delay * (0.5 + random.random()))
        waited += delay
        delay = min(delay * 2, 2.0)


async def listed(
    engine: AsyncEngine, district: str, live: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """The district's warnings (fanned out and older), newest first, from their register line."""
    return await store.list_warnings(engine, district, live, limit)


def _not_signalled(batch_workflow_id: str, ack: ChainAck, exc: BaseException) -> None:
    log.warning(
        "answer not signalled; the batch reads it from its row",
        workflow_id=batch_workflow_id,
        chain=ack.chain_id,
        error=str(exc)[:200],
    )


async def laid_out(client: Client, warning_id: str) -> FanoutView:
    """The warning's board once it has laid out its chains (just after it is issued)."""
    while True:
        view = await show(client, warning_id)
        if view.chains or view.finished:
            return view
        await asyncio.sleep(0.2)


async def show(client: Client, warning_id: str, engine: AsyncEngine | None = None) -> FanoutView:
    """The board: live while the warning calls; with ``engine``, a finished one's final board
    from PostgreSQL (see :func:`yingji.services.views.closed_or_live`)."""
    return await closed_or_live(client, engine, warning_workflow_id(warning_id), FanoutView)


async def kind(client: Client, warning_id: str) -> str:
    """The workflow type of a warning: ``WarningFanout``, or ``WarningCall`` (a warning issued
    before the fan-out, or loaded from a past year)."""
    described = await client.get_workflow_handle(warning_workflow_id(warning_id)).describe()
    return described.workflow_type
