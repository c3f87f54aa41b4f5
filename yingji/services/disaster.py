"""Disaster process operations shared by the CLI and the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from models.disaster import (
    DisasterInput,
    DisasterOpen,
    DisasterReportInput,
    DisasterRules,
    DisasterView,
    ReviewInput,
    StableInput,
)
from yingji.core.errors import DomainRefusal, refuse_future_start
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.services.requests import start_once
from yingji.services.views import closed_or_live
from yingji.stores import disaster as disaster_store

#: The workflow type, as ``workflows/disaster.py`` registers it; clients start, feed and read
#: it by name, so they never import the workflow code (a test checks the names).
WORKFLOW_TYPE = "DisasterProcess"


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
    client: Client,
    settings: Settings,
    data: DisasterOpen,
    task_queue: str | None = None,
    request_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    refuse_future_start(data.occurred_at, "occurred_at")
    oldest = datetime.now(UTC) - timedelta(days=settings.disaster_max_backdate_days)
    if not data.historical and data.occurred_at < oldest:
        # a live process opens a 续报 slot for every day since: one from 1900 opened tens of
        # thousands, each reminded and escalated
        raise DomainRefusal(
            f"occurred_at: {data.occurred_at.isoformat()} is more than "
            f"{settings.disaster_max_backdate_days} days ago; a past process is entered with "
            "`yingji load` (YINGJI_DISASTER_MAX_BACKDATE_DAYS)"
        )
    if data.typhoon_event_id is not None:
        # Its 紧急转移安置 come from that typhoon's tally: a typhoon never opened would give 0.
        try:
            await client.get_workflow_handle(f"typhoon:{data.typhoon_event_id}").describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            raise DomainRefusal(
                f"typhoon_event_id: no typhoon {data.typhoon_event_id} has been opened "
                "(`yingji typhoon open`); its tally would give this process its relocation"
            ) from None
    return await start_once(
        client,
        WORKFLOW_TYPE,
        DisasterInput(open=data, rules=rules_from(settings)),
        result_type=DisasterView,
        id=disaster_workflow_id(data.code),
        request_id=request_id,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(data.district, data.occurred_at.year),
    )


def disaster_handle(client: Client, code: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(disaster_workflow_id(code), result_type=DisasterView)


async def submit(
    client: Client, code: str, data: DisasterReportInput, update_id: str | None = None
) -> DisasterView:
    return await disaster_handle(client, code).execute_update(
        "submit", data, id=update_id, result_type=DisasterView
    )


async def review(
    client: Client, code: str, data: ReviewInput, update_id: str | None = None
) -> DisasterView:
    return await disaster_handle(client, code).execute_update(
        "review", data, id=update_id, result_type=DisasterView
    )


async def declare_stable(
    client: Client, code: str, data: StableInput, update_id: str | None = None
) -> DisasterView:
    return await disaster_handle(client, code).execute_update(
        "declare_stable", data, id=update_id, result_type=DisasterView
    )


async def show(client: Client, code: str, engine: AsyncEngine | None = None) -> DisasterView:
    """The disaster process's view: live while its workflow runs; with ``engine``, a closed
    one's final view from PostgreSQL (see :func:`yingji.services.views.closed_or_live`)."""
    return await closed_or_live(client, engine, disaster_workflow_id(code), DisasterView)


async def listed(
    engine: AsyncEngine, district: str, live: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """The district's disaster processes, newest first, from their register line."""
    return await disaster_store.list_disasters(engine, district, live, limit)
