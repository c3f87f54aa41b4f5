"""Typhoon operations shared by the CLI and the HTTP API."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.typhoon import (
    CloseTyphoon,
    LevelChange,
    ReportReceipt,
    TyphoonBoard,
    TyphoonOpen,
    TyphoonRules,
    TyphoonWorkflowInput,
    UnitReport,
)
from workflows.typhoon import TyphoonWorkflow
from yingji import typhoon_store
from yingji.search import attributes
from yingji.settings import Settings


def typhoon_workflow_id(event_id: str) -> str:
    return f"typhoon:{event_id}"


def rules_from(settings: Settings) -> TyphoonRules:
    return TyphoonRules(
        apply_min_seconds=settings.typhoon_apply_min_seconds,
        apply_max_seconds=settings.typhoon_apply_max_seconds,
    )


async def open_typhoon(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    data: TyphoonOpen,
    task_queue: str | None = None,
) -> WorkflowHandle[TyphoonWorkflow, TyphoonBoard]:
    """Register the event and its units (so reports are accepted at once), then start it."""
    workflow_id = typhoon_workflow_id(data.event_id)
    units, _ = await typhoon_store.register(engine, data, workflow_id)
    if units == 0:
        raise typhoon_store.ReportRejected(
            f"district: no units registered for {data.district}; import the 街镇/村居 first"
        )
    return await client.start_workflow(
        TyphoonWorkflow.run,
        TyphoonWorkflowInput(open=data, rules=rules_from(settings)),
        id=workflow_id,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(data.district, data.year, "open"),
    )


def typhoon_handle(client: Client, event_id: str) -> WorkflowHandle[TyphoonWorkflow, TyphoonBoard]:
    return client.get_workflow_handle_for(TyphoonWorkflow.run, typhoon_workflow_id(event_id))


async def submit_report(engine: AsyncEngine, report: UnitReport) -> ReportReceipt:
    return await typhoon_store.submit(engine, report)


async def change_level(
    client: Client, event_id: str, data: LevelChange, update_id: str | None = None
) -> TyphoonBoard:
    return await typhoon_handle(client, event_id).execute_update(
        TyphoonWorkflow.change_level, data, id=update_id
    )


async def close(
    client: Client, event_id: str, data: CloseTyphoon, update_id: str | None = None
) -> TyphoonBoard:
    return await typhoon_handle(client, event_id).execute_update(
        TyphoonWorkflow.close, data, id=update_id
    )


async def board(client: Client, event_id: str) -> TyphoonBoard:
    return await typhoon_handle(client, event_id).query(TyphoonWorkflow.board)


async def season(engine: AsyncEngine, year: int, district: str) -> list[dict[str, Any]]:
    return await typhoon_store.season(engine, year, district)
