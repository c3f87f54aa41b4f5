"""Disaster process operations shared by the CLI and the HTTP API."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.disaster import (
    DisasterInput,
    DisasterOpen,
    DisasterReportInput,
    DisasterRules,
    DisasterView,
    ReviewInput,
    StableInput,
)
from workflows.disaster import DisasterWorkflow
from yingji.search import attributes
from yingji.settings import Settings


def disaster_workflow_id(code: str) -> str:
    return f"disaster:{code}"


def rules_from(settings: Settings) -> DisasterRules:
    return DisasterRules(
        initial_hours=settings.disaster_initial_hours,
        update_hour=settings.disaster_update_hour,
        final_working_days=settings.disaster_final_working_days,
        remind_after_minutes=settings.disaster_remind_after_minutes,
        escalate_after_minutes=settings.disaster_escalate_after_minutes,
        change_ratio=settings.disaster_change_ratio,
    )


async def open_disaster(
    client: Client, settings: Settings, data: DisasterOpen, task_queue: str | None = None
) -> WorkflowHandle[DisasterWorkflow, DisasterView]:
    return await client.start_workflow(
        DisasterWorkflow.run,
        DisasterInput(open=data, rules=rules_from(settings)),
        id=disaster_workflow_id(data.code),
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(data.district, data.occurred_at.year),
    )


def disaster_handle(client: Client, code: str) -> WorkflowHandle[DisasterWorkflow, DisasterView]:
    return client.get_workflow_handle_for(DisasterWorkflow.run, disaster_workflow_id(code))


async def submit(
    client: Client, code: str, data: DisasterReportInput, update_id: str | None = None
) -> DisasterView:
    return await disaster_handle(client, code).execute_update(
        DisasterWorkflow.submit, data, id=update_id
    )


async def review(
    client: Client, code: str, data: ReviewInput, update_id: str | None = None
) -> DisasterView:
    return await disaster_handle(client, code).execute_update(
        DisasterWorkflow.review, data, id=update_id
    )


async def declare_stable(
    client: Client, code: str, data: StableInput, update_id: str | None = None
) -> DisasterView:
    return await disaster_handle(client, code).execute_update(
        DisasterWorkflow.declare_stable, data, id=update_id
    )


async def show(client: Client, code: str) -> DisasterView:
    return await disaster_handle(client, code).query(DisasterWorkflow.view)
