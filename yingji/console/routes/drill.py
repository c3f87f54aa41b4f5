"""Console routes: drill."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from models.drill import (
    ActionDoneInput,
    CancelInput,
    ConductInput,
    DrillCreate,
    DrillEvaluateInput,
    DrillView,
    PostponeInput,
)
from yingji.console.deps import Caller, Code, Officer, S, Viewer
from yingji.console.mutations import Mut, Mutation, read
from yingji.services import drill as drills

router = APIRouter()


@router.get("/api/drills")
async def drill_calendar(
    _: Viewer, s: S, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> list[dict[str, Any]]:
    return [d.model_dump(mode="json") for d in await drills.list_drills(s.engine, year=year)]


@router.get("/api/drills/{code}")
async def drill_state(code: Code, _: Viewer, s: S, response: Response) -> DrillView:
    return await read(
        s, drills.drill_workflow_id(code), drills.show(s.client, code, s.engine), response
    )


@router.post("/api/drills", status_code=201)
async def drill_plan(data: DrillCreate, who: Officer, s: S, m: Mut) -> DrillView:
    wid = drills.drill_workflow_id(data.code)
    create = drills.create_drill(s.client, s.settings, data, request_id=m.key)
    await m.run(wid, create, asking=("create", data))
    return await m.run(wid, drills.show(s.client, data.code))


async def _act(m: Mutation, who: Caller, code: str, action: str, data: Any) -> DrillView:
    call = drills.act(m.s.client, code, action, m.stamp(data, who), update_id=m.key)
    return await m.run(drills.drill_workflow_id(code), call, asking=(action, data))


@router.post("/api/drills/{code}/conduct")
async def drill_conduct(code: Code, data: ConductInput, who: Officer, m: Mut) -> DrillView:
    return await _act(m, who, code, "conduct", data)


@router.post("/api/drills/{code}/evaluate")
async def drill_evaluate(code: Code, data: DrillEvaluateInput, who: Officer, m: Mut) -> DrillView:
    return await _act(m, who, code, "evaluate", data)


@router.post("/api/drills/{code}/actions/done")
async def drill_action_done(code: Code, data: ActionDoneInput, who: Officer, m: Mut) -> DrillView:
    return await _act(m, who, code, "action-done", data)


@router.post("/api/drills/{code}/postpone")
async def drill_postpone(code: Code, data: PostponeInput, who: Officer, m: Mut) -> DrillView:
    return await _act(m, who, code, "postpone", data)


@router.post("/api/drills/{code}/cancel")
async def drill_cancel(code: Code, data: CancelInput, who: Officer, m: Mut) -> DrillView:
    return await _act(m, who, code, "cancel", data)
