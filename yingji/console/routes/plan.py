"""Console routes: plan."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from models.plan import (
    ApproveInput,
    CloseInput,
    EvaluateInput,
    FileInput,
    IssueInput,
    PlanCreate,
    PlanView,
    ReviewInput,
    RevisionTrigger,
    SubmitDraft,
)
from yingji.console.deps import Code, Officer, S, Services, Viewer
from yingji.services import plan as plans

router = APIRouter()


@router.get("/api/plans")
async def plan_register(_: Viewer, s: S, stage: str | None = None) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json") for p in await plans.list_plans(s.engine, stage=stage)]


@router.get("/api/plans/{code}")
async def plan_state(code: Code, _: Viewer, s: S) -> PlanView:
    return await plans.show(s.client, code)


@router.post("/api/plans", status_code=201)
async def plan_create(data: PlanCreate, _: Officer, s: S) -> PlanView:
    await plans.create_plan(s.client, s.settings, data)
    return await plans.show(s.client, data.code)


async def _plan_act(s: Services, code: str, action: str, data: Any) -> PlanView:
    return await plans.act(s.client, code, action, data)


@router.post("/api/plans/{code}/submit")
async def plan_submit(code: Code, data: SubmitDraft, _: Officer, s: S) -> PlanView:
    return await _plan_act(s, code, "submit", data)


@router.post("/api/plans/{code}/review")
async def plan_review(code: Code, data: ReviewInput, _: Officer, s: S) -> PlanView:
    return await _plan_act(s, code, "review", data)


@router.post("/api/plans/{code}/approve")
async def plan_approve(code: Code, data: ApproveInput, _: Officer, s: S) -> PlanView:
    return await _plan_act(s, code, "approve", data)


@router.post("/api/plans/{code}/issue")
async def plan_issue(code: Code, data: IssueInput, _: Officer, s: S) -> PlanView:
    return await _plan_act(s, code, "issue", data)


@router.post("/api/plans/{code}/file")
async def plan_file(code: Code, data: FileInput, _: Officer, s: S) -> PlanView:
    return await _plan_act(s, code, "file", data)


@router.post("/api/plans/{code}/evaluate")
async def plan_evaluate(code: Code, data: EvaluateInput, _: Officer, s: S) -> PlanView:
    return await _plan_act(s, code, "evaluate", data)


@router.post("/api/plans/{code}/withdraw")
async def plan_withdraw(code: Code, data: CloseInput, _: Officer, s: S) -> PlanView:
    return await _plan_act(s, code, "withdraw", data)


@router.post("/api/plans/{code}/revision-triggers", status_code=202)
async def plan_trigger(code: Code, data: RevisionTrigger, _: Officer, s: S) -> PlanView:
    await plans.show(s.client, code)  # 404 for an unknown plan, before signalling
    await plans.trigger_revision(s.client, code, data)
    return await plans.show(s.client, code)
