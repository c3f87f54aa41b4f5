"""叫应 operations shared by the CLI and the HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.common import CHINA_TZ, EndHistory
from models.warning import (
    AckInput,
    CallRules,
    CallTarget,
    Contact,
    WarningInput,
    WarningIssue,
    WarningView,
)
from yingji.core.errors import DomainRefusal
from yingji.core.search import attributes
from yingji.core.settings import Settings
from yingji.services.requests import start_once
from yingji.services.views import closed_or_live
from yingji.stores.officer import contacts
from yingji.stores.unit import resolve_in

#: The workflow type, as ``workflows/warning.py`` registers it; clients start, feed and read
#: it by name, so they never import the workflow code (a test checks the names).
WORKFLOW_TYPE = "WarningCall"


class NoOneToCall(DomainRefusal):
    pass


def warning_workflow_id(warning_id: str) -> str:
    return f"warning:{warning_id}"


def rules_from(settings: Settings) -> CallRules:
    return CallRules(
        attempts=settings.warning_call_attempts,
        window_minutes=settings.warning_call_window_minutes,
        escalation_wait_minutes=settings.warning_escalation_wait_minutes,
    )


async def targets_from_roster(
    engine: AsyncEngine, district: str, units: list[str] | None = None, as_of: date | None = None
) -> list[CallTarget]:
    """Who answers for each unit: its A officer, backed by its B officer, or by the A officer
    of the 街镇 above when a 村居 has no B. Default units: the district's 街镇. A unit is named
    by its code, or by its name where that names one unit of the district. The roster is
    today's, or the one of ``as_of`` (a past warning's day)."""
    codes: list[str] | None = None
    async with engine.connect() as conn:
        if units is not None:
            named = await resolve_in(conn, district, units)
            if named.unknown:
                raise NoOneToCall(f"units: not in {district}: {', '.join(sorted(named.unknown))}")
            if named.ambiguous:
                raise NoOneToCall("; ".join(named.ambiguous.values()))
            codes = sorted(set(named.codes.values()))
        rows = (
            await conn.execute(
                text(
                    "SELECT code, parent_code FROM admin_unit WHERE district = :d "
                    "AND (CAST(:u AS text[]) IS NULL AND level = 'town' OR code = ANY(:u)) "
                    "ORDER BY code"
                ),
                {"d": district, "u": codes},
            )
        ).all()
    roster = await contacts(
        engine, [r.code for r in rows] + [r.parent_code for r in rows if r.parent_code], as_of
    )
    targets, uncovered = [], []
    for code, parent in rows:
        people = roster.get(code, {})
        primary = people.get("A") or people.get("B")
        if primary is None:
            uncovered.append(code)
            continue
        backup = people.get("B") if "A" in people else None
        if backup is None and parent:
            backup = roster.get(parent, {}).get("A")
        targets.append(
            CallTarget(
                person=Contact(
                    name=primary["name"], phone=primary["phone"], email=primary["email"]
                ),
                unit=code,
                backup=Contact(name=backup["name"], phone=backup["phone"], email=backup["email"])
                if backup
                else None,
            )
        )
    if not targets:
        on = f" on {as_of}" if as_of is not None else ""
        raise NoOneToCall(f"units: no active officer to call in {district}{on}")
    return targets


async def issue_warning(
    client: Client,
    settings: Settings,
    issue: WarningIssue,
    task_queue: str | None = None,
    request_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    return await start_once(
        client,
        WORKFLOW_TYPE,
        WarningInput(issue=issue, rules=rules_from(settings)),
        result_type=WarningView,
        id=warning_workflow_id(issue.warning_id),
        request_id=request_id,
        task_queue=task_queue or settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=attributes(
            issue.district, (issue.issued_at or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ).year
        ),
    )


def warning_handle(client: Client, warning_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(warning_workflow_id(warning_id), result_type=WarningView)


async def acknowledge(
    client: Client, warning_id: str, data: AckInput, update_id: str | None = None
) -> WarningView:
    return await warning_handle(client, warning_id).execute_update(
        "acknowledge", data, id=update_id, result_type=WarningView
    )


async def end_history(client: Client, warning_id: str, update_id: str | None = None) -> WarningView:
    """A past warning's answers are all in: whoever has not answered is 未叫醒, and it ends."""
    return await warning_handle(client, warning_id).execute_update(
        "end_history", EndHistory(), id=update_id, result_type=WarningView
    )


async def show(client: Client, warning_id: str, engine: AsyncEngine | None = None) -> WarningView:
    """The 叫应's view: live while its workflow runs; with ``engine``, a closed one's final
    view from PostgreSQL (see :func:`yingji.services.views.closed_or_live`)."""
    return await closed_or_live(client, engine, warning_workflow_id(warning_id), WarningView)
