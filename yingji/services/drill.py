"""Drill operations shared by the CLI and the HTTP API: start, act, show, list, coverage."""

from __future__ import annotations

import asyncio
import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from models.common import EndHistory
from models.drill import (
    CadenceItem,
    DrillCreate,
    DrillOutcome,
    DrillRules,
    DrillType,
    DrillView,
    DrillWorkflowInput,
    Frequency,
    ProgrammeInput,
    ProgrammeView,
)
from yingji.core.errors import Unknown, refuse_future_start
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.core.tables import Drill
from yingji.services.requests import start_once
from yingji.services.views import closed_or_live

#: The workflow type, as ``workflows/drill.py`` registers it; clients start, feed and read
#: it by name, so they never import the workflow code (a test checks the names).
WORKFLOW_TYPE = "Drill"
PROGRAMME_TYPE = "DrillProgramme"


def drill_workflow_id(code: str) -> str:
    return f"drill:{code}"


def programme_workflow_id(unit_code: str, year: int) -> str:
    return f"programme:{unit_code}:{year}"


def rules_from(settings: Settings) -> DrillRules:
    return DrillRules(
        reminder_days=settings.drill_reminder_days,
        evaluation_due_days=settings.drill_evaluation_due_days,
    )


async def create_drill(
    client: Client,
    settings: Settings,
    data: DrillCreate,
    task_queue: str | None = None,
    historical: bool = False,
    request_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Plan a drill. ``historical``: a past drill (``yingji load``): nobody is reminded, its
    steps carry their times (``at``) and its deadlines are judged against them until
    ``end_history``. A drill without a ``district`` is the configured district's (or city's):
    it is filled in here, so the workflow's input always names it."""
    refuse_future_start(data.at)
    if data.district is None:
        data = data.model_copy(update={"district": settings.district})
    await refuse_unknown_plans(client, data.linked_plans)
    return await start_once(
        client,
        WORKFLOW_TYPE,
        DrillWorkflowInput(create=data, rules=rules_from(settings), historical=historical),
        result_type=DrillOutcome,
        id=drill_workflow_id(data.code),
        request_id=request_id,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(data.organiser, data.scheduled_on.year, "planned"),
    )


async def refuse_unknown_plans(client: Client, codes: list[str]) -> None:
    """A drill exercises plans that exist: each linked plan must have been created (its
    findings may reopen it). Refused naming every unknown one."""

    async def known(code: str) -> bool:
        try:
            await client.get_workflow_handle(f"plan:{code}").describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return True

    found = await asyncio.gather(*(known(c) for c in codes))
    unknown = [c for c, ok in zip(codes, found, strict=True) if not ok]
    if unknown:
        raise Unknown(
            f"linked_plans: no plan {', '.join(unknown)} is registered; create the plan first, "
            "or leave it out"
        )


def drill_handle(client: Client, code: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(drill_workflow_id(code), result_type=DrillOutcome)


UPDATES = {
    "postpone": "postpone",
    "cancel": "cancel",
    "conduct": "conduct",
    "evaluate": "evaluate",
    "action-done": "action_done",
}


async def act(
    client: Client, code: str, action: str, data: Any, update_id: str | None = None
) -> DrillView:
    return await drill_handle(client, code).execute_update(
        UPDATES[action], data, id=update_id, result_type=DrillView
    )


async def end_history(client: Client, code: str, update_id: str | None = None) -> DrillView:
    """A past drill is loaded: from now on its reminders and deadlines run by the clock."""
    return await drill_handle(client, code).execute_update(
        "end_history", EndHistory(), id=update_id, result_type=DrillView
    )


async def show(client: Client, code: str, engine: AsyncEngine | None = None) -> DrillView:
    """The drill's view: live while its workflow runs; with ``engine``, a closed one's final
    view from PostgreSQL (see :func:`yingji.services.views.closed_or_live`)."""
    return await closed_or_live(client, engine, drill_workflow_id(code), DrillView)


async def list_drills(
    engine: AsyncEngine, year: int | None = None, organiser: str | None = None
) -> list[Drill]:
    query = select(Drill).order_by(Drill.scheduled_on, Drill.code)
    if year:
        query = query.where(Drill.scheduled_on.between(date(year, 1, 1), date(year, 12, 31)))
    if organiser:
        query = query.where(Drill.organiser == organiser)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [Drill.model_validate(dict(r)) for r in rows]


def default_cadence(year: int, linked_plans: list[str] | None = None) -> list[CadenceItem]:
    """月度实战演练、季度技能比武、年度综合拉动 (the Xi'an cadence in DOMAIN.md §2)."""
    plans = linked_plans or []
    return [
        CadenceItem(
            key="M",
            frequency=Frequency.MONTHLY,
            drill_type=DrillType.LIVE,
            title="实战演练",
            scenario="月度实战演练",
            day=15,
            linked_plans=plans,
        ),
        CadenceItem(
            key="Q",
            frequency=Frequency.QUARTERLY,
            drill_type=DrillType.SINGLE,
            title="技能比武",
            scenario="季度技能比武",
            day=20,
            month=2,
            linked_plans=plans,
        ),
        CadenceItem(
            key="A",
            frequency=Frequency.ANNUAL,
            drill_type=DrillType.COMPREHENSIVE,
            title="综合拉动演练",
            scenario="年度综合拉动演练",
            day=18,
            month=6,
            linked_plans=plans,
        ),
    ]


async def start_programme(
    client: Client,
    settings: Settings,
    data: ProgrammeInput,
    task_queue: str | None = None,
    request_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start a unit's programme; its drills are the configured district's unless it names one."""
    if data.district is None:
        data = data.model_copy(update={"district": settings.district})
    return await start_once(
        client,
        PROGRAMME_TYPE,
        data,
        result_type=ProgrammeView,
        id=programme_workflow_id(data.unit_code, data.year),
        request_id=request_id,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )


async def programme_view(client: Client, unit_code: str, year: int) -> ProgrammeView:
    handle = client.get_workflow_handle(
        programme_workflow_id(unit_code, year), result_type=DrillOutcome
    )
    return await handle.query("view", result_type=ProgrammeView)


@dataclass(frozen=True)
class CoverageRow:
    plan_code: str
    plan_name: str
    kind: str
    cadence_months: int
    last_drilled: date | None
    due: date
    overdue_days: int

    @property
    def never_drilled(self) -> bool:
        return self.last_drilled is None


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


_COVERAGE_SQL = text(
    """
    SELECT p.code, p.name, p.kind, p.issued_on, last.last_drilled
    FROM plan p
    LEFT JOIN (
        SELECT l.plan_code, max(d.conducted_on) AS last_drilled
        FROM drill_plan l JOIN drill d ON d.code = l.drill_code
        WHERE d.conducted_on IS NOT NULL AND d.conducted_on <= :as_of
        GROUP BY l.plan_code
    ) last ON last.plan_code = p.code
    WHERE p.in_force_version IS NOT NULL
      AND p.stage NOT IN ('withdrawn', 'abolished')
      AND p.kind = ANY(:kinds)
    ORDER BY p.code
    """
)


async def coverage(
    engine: AsyncEngine, settings: Settings, as_of: date, only_gaps: bool = True
) -> list[CoverageRow]:
    """Plans in force and their drill cadence: last drilled, next due, days overdue.

    A plan never drilled counts from its issue date. With ``only_gaps``, rows that are overdue
    or never drilled.
    """
    cadence = settings.drill_cadence_months
    async with engine.connect() as conn:
        result = await conn.execute(_COVERAGE_SQL, {"as_of": as_of, "kinds": list(cadence)})
        rows = result.all()
    out = []
    for code, name, kind, issued_on, last_drilled in rows:
        months = cadence[kind]
        since = last_drilled or issued_on or as_of
        due = _add_months(since, months)
        row = CoverageRow(code, name, kind, months, last_drilled, due, (as_of - due).days)
        if not only_gaps or row.overdue_days > 0 or row.never_drilled:
            out.append(row)
    out.sort(key=lambda r: (-r.overdue_days, r.plan_code))
    return out
