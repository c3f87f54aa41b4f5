"""Console routes: drill."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from models.drill import (
    ActionDoneInput,
    ConductInput,
    DrillCreate,
    DrillEvaluateInput,
    DrillView,
)
from yingji.console.deps import Code, Officer, S, Viewer
from yingji.services import drill as drills

router = APIRouter()


@router.get("/api/drills")
async def drill_calendar(
    _: Viewer, s: S, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> list[dict[str, Any]]:
    return [d.model_dump(mode="json") for d in await drills.list_drills(s.engine, year=year)]


@router.get("/api/drills/{code}")
async def drill_state(code: Code, _: Viewer, s: S) -> DrillView:
    return await drills.show(s.client, code)


@router.post("/api/drills", status_code=201)
async def drill_plan(data: DrillCreate, _: Officer, s: S) -> DrillView:
    await drills.create_drill(s.client, s.settings, data)
    return await drills.show(s.client, data.code)


@router.post("/api/drills/{code}/conduct")
async def drill_conduct(code: Code, data: ConductInput, _: Officer, s: S) -> DrillView:
    return await drills.act(s.client, code, "conduct", data)


@router.post("/api/drills/{code}/evaluate")
async def drill_evaluate(code: Code, data: DrillEvaluateInput, _: Officer, s: S) -> DrillView:
    return await drills.act(s.client, code, "evaluate", data)


@router.post("/api/drills/{code}/actions/done")
async def drill_action_done(code: Code, data: ActionDoneInput, _: Officer, s: S) -> DrillView:
    return await drills.act(s.client, code, "action-done", data)
