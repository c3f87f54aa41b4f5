"""Console routes: plan.

Drafting steps need a duty officer; review, approval, issue, filing and evaluation decisions
need an approver. Every POST applies once per ``Idempotency-Key`` and honours ``If-Match``
(see ``yingji/console/mutations.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

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
from yingji.console.deps import QUERY_TEXT, Approver, Caller, Code, Officer, S, Viewer
from yingji.console.mutations import Mut, Mutation, filled, read
from yingji.services import plan as plans

router = APIRouter()


@router.get("/api/plans")
async def plan_register(
    _: Viewer,
    s: S,
    stage: Annotated[str | None, Query(min_length=1, max_length=32, pattern=QUERY_TEXT)] = None,
) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json") for p in await plans.list_plans(s.engine, stage=stage)]


@router.get("/api/plans/{code}")
async def plan_state(code: Code, _: Viewer, s: S, response: Response) -> PlanView:
    return await read(
        s, plans.plan_workflow_id(code), plans.show(s.client, code, s.engine), response
    )


@router.post("/api/plans", status_code=201)
async def plan_create(data: PlanCreate, who: Officer, s: S, m: Mut) -> PlanView:
    # the caller starts it: the drafter named in the body is kept as 代填
    sent = data  # the key stands for what was sent, whoever sends it again
    data = data.model_copy(update={"drafter": filled(who.person, data.drafter)})
    wid = plans.plan_workflow_id(data.code)
    create = plans.create_plan(s.client, s.settings, data, request_id=m.key)
    await m.run(wid, create, asking=("create", sent))
    return await m.run(wid, plans.show(s.client, data.code))


async def _act(m: Mutation, who: Caller, code: str, action: str, data: Any) -> PlanView:
    call = plans.act(m.s.client, code, action, m.stamp(data, who), update_id=m.key)
    return await m.run(plans.plan_workflow_id(code), call, asking=(action, data))


@router.post("/api/plans/{code}/submit")
async def plan_submit(code: Code, data: SubmitDraft, who: Officer, m: Mut) -> PlanView:
    return await _act(m, who, code, "submit", data)


@router.post("/api/plans/{code}/review")
async def plan_review(code: Code, data: ReviewInput, who: Approver, m: Mut) -> PlanView:
    return await _act(m, who, code, "review", data)


@router.post("/api/plans/{code}/approve")
async def plan_approve(code: Code, data: ApproveInput, who: Approver, m: Mut) -> PlanView:
    return await _act(m, who, code, "approve", data)


@router.post("/api/plans/{code}/issue")
async def plan_issue(code: Code, data: IssueInput, who: Approver, m: Mut) -> PlanView:
    return await _act(m, who, code, "issue", data)


@router.post("/api/plans/{code}/file")
async def plan_file(code: Code, data: FileInput, who: Approver, m: Mut) -> PlanView:
    return await _act(m, who, code, "file", data)


@router.post("/api/plans/{code}/evaluate")
async def plan_evaluate(code: Code, data: EvaluateInput, who: Approver, m: Mut) -> PlanView:
    return await _act(m, who, code, "evaluate", data)


@router.post("/api/plans/{code}/withdraw")
async def plan_withdraw(code: Code, data: CloseInput, who: Officer, m: Mut) -> PlanView:
    return await _act(m, who, code, "withdraw", data)


@router.post("/api/plans/{code}/revision-triggers")
async def plan_trigger(code: Code, data: RevisionTrigger, who: Officer, m: Mut) -> PlanView:
    """A revision cause, sent as an update so that it applies once per request and answers
    with the view once it is recorded (a repeated ``trigger_id`` is recorded once too)."""
    call = plans.trigger_revision(m.s.client, code, m.stamp(data, who), update_id=m.key)
    view = await m.run(plans.plan_workflow_id(code), call, asking=("revision-trigger", data))
    assert view is not None  # an update always answers
    return view


@router.post("/api/plans/{code}/abolish")
async def plan_abolish(code: Code, data: CloseInput, who: Approver, m: Mut) -> PlanView:
    """废止 an issued plan (a decision: an approver's)."""
    return await _act(m, who, code, "abolish", data)
