"""Year-end summaries: the schedule, runs on demand and for backfill, and export."""

from __future__ import annotations

import io
import json
from datetime import timedelta

from docx import Document
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from models.summary import SummaryDocument, SummaryInput
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.services.requests import MEMO_KEY
from yingji.stores import summary as summary_store

#: The workflow type, as ``workflows/summary.py`` registers it; clients start, feed and read
#: it by name, so they never import the workflow code (a test checks the names).
WORKFLOW_TYPE = "YearEndSummary"

SCHEDULE_ID = "year-end-summary"
TIME_ZONE = "Asia/Shanghai"


def summary_input(settings: Settings, year: int | None, requested_by: str) -> SummaryInput:
    return SummaryInput(
        year=year,
        bureau=settings.bureau,  # first: names every missing bureau setting at once
        district=settings.district,
        requested_by=requested_by,
        level=settings.bureau_level or "district",
    )


def schedule(settings: Settings, task_queue: str | None = None) -> Schedule:
    """Early each January in Asia/Shanghai: the summary of the year before."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_TYPE,
            summary_input(settings, None, "schedule"),
            id=f"year-end-summary:{settings.district}",
            task_queue=task_queue or settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    month=[ScheduleRange(1)],
                    day_of_month=[ScheduleRange(settings.summary_day_of_month)],
                    hour=[ScheduleRange(settings.summary_hour)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                    comment="year-end summary for the previous year",
                )
            ],
            time_zone_name=TIME_ZONE,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(days=settings.summary_catchup_days),
        ),
    )


async def ensure_schedule(
    client: Client, settings: Settings, task_queue: str | None = None
) -> None:
    """Create the schedule, or bring an existing one in line with the settings (idempotent)."""
    wanted = schedule(settings, task_queue)
    try:
        await client.create_schedule(SCHEDULE_ID, wanted)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(SCHEDULE_ID).update(
            lambda _: ScheduleUpdate(schedule=wanted)
        )


async def run_summary(
    client: Client,
    settings: Settings,
    year: int,
    requested_by: str,
    task_queue: str | None = None,
    request_id: str | None = None,
) -> SummaryDocument:
    """One run for ``year``; a second run for the same year at the same time is refused.

    A run is repeatable (each makes a new version); a request repeated with the same
    ``request_id`` answers the run it started instead of starting another."""
    data = summary_input(settings, year, requested_by)  # first: names any missing setting
    workflow_id = f"year-end-summary:{data.district}:{year}"
    if request_id is not None:
        previous = client.get_workflow_handle(workflow_id, result_type=SummaryDocument)
        try:
            described = await previous.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        else:
            if await described.memo_value(MEMO_KEY, None) == request_id:
                return await previous.result()
    return await client.execute_workflow(
        WORKFLOW_TYPE,
        data,
        id=workflow_id,
        memo={MEMO_KEY: request_id} if request_id else None,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(settings.district, year),
        result_type=SummaryDocument,
    )


async def latest(engine: AsyncEngine, settings: Settings, year: int) -> SummaryDocument | None:
    return await summary_store.latest(engine, settings.district, year)


def export(document: SummaryDocument, fmt: str) -> bytes:
    if fmt == "md":
        return document.markdown.encode()
    if fmt == "json":
        return json.dumps(
            {
                "title": document.title,
                "year": document.year,
                "district": document.district,
                "version": document.version,
                "text": document.markdown,
                "figures": document.figures.model_dump(mode="json"),
                "content_hash": document.content_hash,
            },
            ensure_ascii=False,
            indent=2,
        ).encode()
    if fmt == "docx":
        return _docx(document)
    raise ValueError(f"format: '{fmt}' is not md, json or docx")


def _docx(document: SummaryDocument) -> bytes:
    doc = Document()
    doc.core_properties.title = document.title
    doc.core_properties.created = document.created_at.replace(tzinfo=None)
    doc.core_properties.modified = document.created_at.replace(tzinfo=None)
    for line in document.markdown.splitlines():
        if line.startswith("## "):
            doc.add_heading(line[3:], level=2)
        elif line.startswith("# "):
            doc.add_heading(line[2:], level=1)
        elif line.strip():
            doc.add_paragraph(line)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
