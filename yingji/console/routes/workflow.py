"""Console routes: workflow."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from models.common import CONTROL_CLASS
from yingji.console.deps import S, Viewer
from yingji.core.errors import PATTERN_WORDS
from yingji.core.search import STAGE, UNIT, YEAR
from yingji.stores import overdue as overdue_store

router = APIRouter()

#: A unit in a visibility query: text without quotes or backslashes (it is quoted into it).
UNIT_QUERY = f"^[^'\\\\{CONTROL_CLASS}\\t\\n\\r]{{1,100}}$"
PATTERN_WORDS[UNIT_QUERY] = "1 to 100 characters, no quote, backslash or control character"

#: Workflow kind → Temporal workflow type, for listing.
KINDS = {
    "plan": "PlanLifecycle",
    "drill": "Drill",
    "programme": "DrillProgramme",
    "typhoon": "Typhoon",
    "warning": "WarningCall",
    "disaster": "DisasterProcess",
    "summary": "YearEndSummary",
}


@router.get("/api/workflows")
async def list_workflows(
    _: Viewer,
    s: S,
    kind: Literal[tuple(KINDS)] | None = None,  # type: ignore[valid-type]
    status: Literal["running", "closed"] | None = None,
    unit: Annotated[str | None, Query(pattern=UNIT_QUERY)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    stage: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Live and finished workflows, by kind and status, and by the registered search
    attributes YingjiUnit (unit or district), YingjiYear and YingjiStage."""
    clauses = []
    if kind:
        clauses.append(f"WorkflowType = '{KINDS[kind]}'")
    if status:
        clauses.append(
            "ExecutionStatus = 'Running'" if status == "running" else "ExecutionStatus != 'Running'"
        )
    if unit:
        clauses.append(f"YingjiUnit = '{unit}'")
    if year:
        clauses.append(f"YingjiYear = {year}")
    if stage:
        clauses.append(f"YingjiStage = '{stage}'")
    out = []
    async for w in s.client.list_workflows(" AND ".join(clauses) or None, limit=limit):
        attrs = w.typed_search_attributes
        out.append(
            {
                "id": w.id,
                "type": w.workflow_type,
                "status": w.status.name.lower() if w.status else None,
                "started": w.start_time,
                "closed": w.close_time,
                "unit": attrs.get(UNIT),
                "year": attrs.get(YEAR),
                "stage": attrs.get(STAGE),
            }
        )
    return out


@router.get("/api/overdue")
async def overdue(_: Viewer, s: S) -> list[dict[str, Any]]:
    """Every deadline that has passed, across plans, drills and corrective actions."""
    return await overdue_store.overdue(s.engine)
