"""Plan operations shared by the CLI and (later) the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.common import CHINA_TZ, EndHistory
from models.plan import (
    PlanCreate,
    PlanOutcome,
    PlanRules,
    PlanView,
    PlanWorkflowInput,
    RevisionTrigger,
)
from yingji.core.errors import refuse_future_start
from yingji.core.logging import get_logger
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.core.tables import Plan
from yingji.services.requests import start_once
from yingji.services.views import closed_or_live

log = get_logger(__name__)

V = TypeVar("V", bound=BaseModel)

#: The workflow type, as ``workflows/plan.py`` registers it; clients start, feed and read
#: it by name, so they never import the workflow code (a test checks the names).
WORKFLOW_TYPE = "PlanLifecycle"


def plan_workflow_id(code: str) -> str:
    return f"plan:{code}"


def rules_from(settings: Settings) -> PlanRules:
    return PlanRules(
        filing_working_days=settings.plan_filing_working_days,
        evaluation_years=settings.plan_evaluation_years,
    )


async def create_plan(
    client: Client,
    settings: Settings,
    data: PlanCreate,
    task_queue: str | None = None,
    historical: bool = False,
    request_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start the plan's lifecycle. A plan code names one plan for good: reusing it is refused.

    ``historical``: a past plan (``yingji load``): its steps carry their times (``at``) and its
    deadlines are judged against them until ``end_history``.

    A plan without a ``district`` is the configured district's (or city's): it is filled in
    here, so the workflow's input always names it."""
    refuse_future_start(data.at)
    if data.district is None:
        data = data.model_copy(update={"district": settings.district})
    year = (data.at or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ).year
    return await start_once(
        client,
        WORKFLOW_TYPE,
        PlanWorkflowInput(create=data, rules=rules_from(settings), historical=historical),
        result_type=PlanOutcome,
        id=plan_workflow_id(data.code),
        request_id=request_id,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(data.unit, year, "drafting"),
    )


def plan_handle(client: Client, code: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(plan_workflow_id(code), result_type=PlanOutcome)


#: CLI/API action name → workflow update.
UPDATES = {
    "submit": "submit",
    "review": "review",
    "approve": "approve",
    "issue": "issue",
    "file": "file",
    "evaluate": "evaluate",
    "withdraw": "withdraw",
    "abolish": "abolish",
}


async def act(
    client: Client, code: str, action: str, data: Any, update_id: str | None = None
) -> PlanView:
    """``update_id`` makes a repeated request (a retried load) return the first answer."""
    return await plan_handle(client, code).execute_update(
        UPDATES[action], data, id=update_id, result_type=PlanView
    )


async def trigger_revision(
    client: Client, code: str, trigger: RevisionTrigger, update_id: str | None = None
) -> PlanView | None:
    """A revision cause. With a time (``at``) or an update id it goes as the update
    ``request_revision``, which refuses a bad time and answers with the view; otherwise as the
    signal ``trigger_revision``, which other workflows also use."""
    handle = plan_handle(client, code)
    if trigger.at is None and update_id is None:
        await handle.signal("trigger_revision", trigger)
        return None
    return await handle.execute_update(
        "request_revision", trigger, id=update_id, result_type=PlanView
    )


async def end_history(client: Client, code: str, update_id: str | None = None) -> PlanView:
    """A past plan is loaded: from now on its deadlines run by the clock."""
    return await plan_handle(client, code).execute_update(
        "end_history", EndHistory(), id=update_id, result_type=PlanView
    )


async def show(client: Client, code: str, engine: AsyncEngine | None = None) -> PlanView:
    """The plan's view: live while its workflow runs; with ``engine``, a closed plan's final
    view from PostgreSQL (see :func:`yingji.services.views.closed_or_live`)."""
    return await closed_or_live(client, engine, plan_workflow_id(code), PlanView)


async def list_plans(
    engine: AsyncEngine, stage: str | None = None, kind: str | None = None
) -> list[Plan]:
    """The plan register, from the projection."""
    query = select(Plan).order_by(Plan.code)
    if stage:
        query = query.where(Plan.stage == stage)
    if kind:
        query = query.where(Plan.kind == kind)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [Plan.model_validate(dict(r)) for r in rows]
