"""``yingji plan``: emergency plans (应急预案)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from yingji.cli.common import (
    TYPER,
    District,
    ExpectStage,
    Json,
    RequestId,
    client_for,
    emit,
    expecting,
    out,
    parse,
    parse_date,
    request_id,
    run,
    send_once,
    when,
    with_engine,
)

if TYPE_CHECKING:
    from models.plan import (
        PlanView,
    )
    from yingji.core.settings import Settings

#: The revision causes (``models.plan.RevisionCause``), spelled out so that ``--help`` needs no
#: model import; a test checks that the list matches the enum.
CAUSES = (
    "law_changed, command_changed, risk_changed, resources_changed, key_info_changed, "
    "response_or_drill_findings, other (or the Chinese label)"
)

plan_app = typer.Typer(**TYPER, no_args_is_help=True)


# -- output ---------------------------------------------------------------------------------------


def print_view(v: PlanView) -> None:
    from rich.table import Table

    out.print(f"[bold]{v.name}[/bold]  ({v.code})", highlight=False)
    out.print(
        f"  {v.kind.label} · {v.level.label} · {v.unit}"
        + (f" · 辖区 {v.district}" if v.district else "")
        + (f" · 简称 {v.short_name}" if v.short_name else "")
        + "\n"
        f"  阶段 stage: [bold]{v.stage_label}[/bold] ({v.stage.value}) since "
        f"{when(v.stage_since)}\n"
        f"  版本 version: {v.version}"
        + (f"  (in force: v{v.in_force_version})" if v.in_force_version else "")
        + f"\n  next: {', '.join(a.value for a in v.allowed_actions) or '—'}",
        highlight=False,
    )
    if v.issue:
        out.print(f"  印发 issued: {v.issue.issued_on} {v.issue.document_number}", highlight=False)
    if v.filing:
        late = f", {v.filing.late_by_days} days late" if v.filing.late_by_days else ""
        out.print(
            f"  备案 filed: {v.filing.filed_on} with {v.filing.filed_with}{late}", highlight=False
        )
    if v.deadlines:
        table = Table(title="Deadlines 期限", title_justify="left")
        for col in ("kind", "due", "status"):
            table.add_column(col)
        for d in v.deadlines:
            status = "[red]OVERDUE 逾期[/red]" if d.overdue else "open"
            if not d.exact:
                status += " (calendar estimated)"
            table.add_row(f"{d.kind.label} {d.kind.value}", d.due.isoformat(), status)
        out.print(table)
    if v.reviews:
        table = Table(title="Reviews 审查", title_justify="left")
        for col in ("stage", "reviewer", "outcome", "opinion"):
            table.add_column(col)
        for r in v.reviews:
            table.add_row(r.stage.label, r.reviewer, r.outcome.label, r.opinion)
        out.print(table)
    if v.revisions:
        table = Table(title="Revisions 修订", title_justify="left")
        for col in ("version", "started", "causes"):
            table.add_column(col)
        for rev in v.revisions:
            table.add_row(
                f"v{rev.from_version}→v{rev.version}",
                when(rev.started_at),
                "; ".join(f"{t.cause.label}: {t.detail}" for t in rev.triggers),
            )
        out.print(table)
    for label, triggers in (("pending", v.pending_triggers), ("noted for draft", v.draft_triggers)):
        for t in triggers:
            out.print(f"  trigger {label}: {t.cause.label} — {t.detail}", highlight=False)


def finish(v: PlanView, as_json: bool) -> None:
    emit(v, as_json, print_view)


# -- plan commands ---------------------------------------------------------------------------

Code = Annotated[str, typer.Argument(metavar="CODE", help="plan code, e.g. JD-FXFT-2024")]


def _act(
    code: str,
    action: str,
    build: Callable[[], Any],
    as_json: bool,
    request: str | None = None,
    expect: str | None = None,
) -> None:
    from yingji.services import plan as plans

    rid = request_id(request)

    async def job(settings: Settings) -> PlanView:
        data = expecting(build(), expect)
        client = await client_for(settings)
        call = plans.act(client, code, action, data, update_id=rid)
        return await send_once(settings, rid, plans.plan_workflow_id(code), action, data, call)

    finish(run(job, f"plan {code}"), as_json)


@plan_app.command("create")
def plan_create(
    code: Code,
    name: Annotated[str, typer.Option(help="预案名称")],
    kind: Annotated[
        str, typer.Option(help="overall|special|departmental|grassroots|enterprise or 中文")
    ],
    level: Annotated[str, typer.Option(help="city|district|town|village or 市|区/县|街镇|村居")],
    unit: Annotated[str, typer.Option(help="制定单位")],
    drafter: Annotated[str, typer.Option(help="起草人")],
    district: District = None,
    short_name: Annotated[
        str | None,
        typer.Option(help="简称, the topic the year-end summary names it by (e.g. 地震)"),
    ] = None,
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """Start a plan's lifecycle in drafting (编制)."""
    from models.plan import PlanCreate, PlanKind, PlanLevel
    from yingji.services import plan as plans
    from yingji.services.requests import within

    data_kind, data_level = parse(PlanKind, kind, "kind"), parse(PlanLevel, level, "level")
    rid = request_id(request)

    async def job(settings: Settings) -> PlanView:
        data = PlanCreate(
            code=code,
            name=name,
            kind=data_kind,
            level=data_level,
            unit=unit,
            drafter=drafter,
            district=district,
            short_name=short_name,
        )
        client = await client_for(settings)
        await plans.create_plan(client, settings, data, request_id=rid)
        answer = plans.show(client, code)
        return await within(
            settings.request_wait_seconds, plans.plan_workflow_id(code), rid, answer
        )

    finish(run(job, f"plan {code}"), as_json)


@plan_app.command("submit")
def plan_submit(
    code: Code,
    by: Annotated[str, typer.Option(help="提交人")],
    note: str = "",
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Send the draft for consultation (征求意见)."""
    from models.plan import SubmitDraft

    _act(
        code,
        "submit",
        lambda: SubmitDraft(by=by, note=note),
        as_json,
        request=request,
        expect=expect_stage,
    )


@plan_app.command("review")
def plan_review(
    code: Code,
    reviewer: Annotated[str, typer.Option(help="审查人/单位")],
    opinion: Annotated[str, typer.Option(help="意见")],
    outcome: Annotated[str, typer.Option(help="pass|return (通过|退回修改)")] = "pass",
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Record the review of the current stage (consultation, expert or legality review)."""
    from models.plan import ReviewInput, ReviewOutcome

    result = parse(ReviewOutcome, outcome, "outcome")
    _act(
        code,
        "review",
        lambda: ReviewInput(reviewer=reviewer, opinion=opinion, outcome=result),
        as_json,
        request=request,
        expect=expect_stage,
    )


@plan_app.command("approve")
def plan_approve(
    code: Code,
    approver: Annotated[str, typer.Option(help="审批人/会议")],
    refuse: Annotated[bool, typer.Option(help="refuse: back to drafting")] = False,
    collective: Annotated[bool, typer.Option(help="decided by 集体讨论")] = False,
    opinion: str = "",
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Approve (or refuse) the plan."""
    from models.plan import ApproveInput

    _act(
        code,
        "approve",
        lambda: ApproveInput(
            approver=approver,
            approved=not refuse,
            collective_discussion=collective,
            opinion=opinion,
        ),
        as_json,
        request=request,
        expect=expect_stage,
    )


@plan_app.command("issue")
def plan_issue(
    code: Code,
    document_number: Annotated[str, typer.Option(help="文号")],
    issuer: Annotated[str, typer.Option(help="印发单位")],
    issued_on: Annotated[str | None, typer.Option(help="YYYY-MM-DD, default today")] = None,
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Issue (印发) the approved plan; the filing and evaluation clocks start."""
    from models.plan import IssueInput

    day = parse_date(issued_on, "issued-on")
    _act(
        code,
        "issue",
        lambda: IssueInput(document_number=document_number, issuer=issuer, issued_on=day),
        as_json,
        request=request,
        expect=expect_stage,
    )


@plan_app.command("file")
def plan_file(
    code: Code,
    filed_with: Annotated[str, typer.Option(help="备案机关")],
    by: Annotated[str, typer.Option(help="经办人")],
    filed_on: Annotated[str | None, typer.Option(help="YYYY-MM-DD, default today")] = None,
    receipt: Annotated[str, typer.Option(help="备案回执号")] = "",
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Record the filing (备案); the plan is then in force."""
    from models.plan import FileInput

    day = parse_date(filed_on, "filed-on")
    _act(
        code,
        "file",
        lambda: FileInput(filed_with=filed_with, filed_by=by, filed_on=day, receipt_number=receipt),
        as_json,
        request=request,
        expect=expect_stage,
    )


@plan_app.command("evaluate")
def plan_evaluate(
    code: Code,
    evaluator: Annotated[str, typer.Option(help="评估人/单位")],
    outcome: Annotated[str, typer.Option(help="still_valid|revise (继续有效|需要修订)")],
    findings: Annotated[str, typer.Option(help="评估结论")],
    cause: Annotated[str | None, typer.Option(help="revision cause when revising")] = None,
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Conclude an evaluation (评估): still valid, or revise."""
    from models.plan import EvaluateInput, EvaluationOutcome, RevisionCause

    result = parse(EvaluationOutcome, outcome, "outcome")
    why = parse(RevisionCause, cause, "cause") if cause else None
    _act(
        code,
        "evaluate",
        lambda: EvaluateInput(evaluator=evaluator, outcome=result, findings=findings, cause=why),
        as_json,
        request=request,
        expect=expect_stage,
    )


@plan_app.command("trigger-revision")
def plan_trigger_revision(
    code: Code,
    cause: Annotated[str, typer.Option(help=CAUSES)],
    detail: Annotated[str, typer.Option(help="说明")],
    source: Annotated[str, typer.Option(help="who raises it")],
    trigger_id: Annotated[
        str | None, typer.Option(help="idempotency key; repeating it records the cause once")
    ] = None,
    request: RequestId = None,
    as_json: Json = False,
) -> None:
    """Raise a revision cause (修订情形); an in-force plan enters revision."""
    from models.plan import RevisionCause, RevisionTrigger
    from yingji.services import plan as plans

    why = parse(RevisionCause, cause, "cause")
    rid = request_id(request)

    async def job(settings: Settings) -> PlanView:
        trigger = RevisionTrigger(
            cause=why,
            detail=detail,
            source=source,
            trigger_id=trigger_id or f"cli:{rid}",
        )
        client = await client_for(settings)
        call = plans.trigger_revision(client, code, trigger, update_id=rid)
        wid = plans.plan_workflow_id(code)
        view = await send_once(settings, rid, wid, "revision-trigger", trigger, call)
        assert view is not None  # sent as an update: it answers with the view
        return view

    emit(
        run(job, f"plan {code}"),
        as_json,
        lambda v: out.print(
            f"revision cause sent to plan {code} ({v.stage_label}, v{v.version})",
            highlight=False,
        ),
    )


@plan_app.command("withdraw")
def plan_withdraw(
    code: Code,
    by: str = typer.Option(...),
    reason: str = typer.Option(...),
    request: RequestId = None,
    expect_stage: ExpectStage = None,
    as_json: Json = False,
) -> None:
    """Withdraw a plan before it is issued."""
    from models.plan import CloseInput

    _act(
        code,
        "withdraw",
        lambda: CloseInput(by=by, reason=reason),
        as_json,
        request=request,
        expect=expect_stage,
    )


@plan_app.command("abolish")
def plan_abolish(
    code: Code,
    by: str = typer.Option(...),
    reason: str = typer.Option(...),
    request: RequestId = None,
    expect_stage: ExpectStage = None,
    as_json: Json = False,
) -> None:
    """Abolish (废止) an issued plan."""
    from models.plan import CloseInput

    _act(
        code,
        "abolish",
        lambda: CloseInput(by=by, reason=reason),
        as_json,
        request=request,
        expect=expect_stage,
    )


@plan_app.command("show")
def plan_show(code: Code, as_json: Json = False) -> None:
    """A plan's stage, version, deadlines and history."""
    from yingji.services import plan as plans

    async def job(settings: Settings) -> PlanView:
        return await plans.show(await client_for(settings), code)

    finish(run(job, f"plan {code}"), as_json)


@plan_app.command("list")
def plan_list(
    stage: Annotated[str | None, typer.Option(help="filter by stage")] = None,
    kind: Annotated[str | None, typer.Option(help="filter by kind")] = None,
    as_json: Json = False,
) -> None:
    """The plan register (from the database)."""
    from rich.table import Table

    from models.plan import PlanKind, PlanLevel, PlanStage
    from yingji.services import plan as plans

    stage_value = parse(PlanStage, stage, "stage").value if stage else None
    kind_value = parse(PlanKind, kind, "kind").value if kind else None

    async def job(settings: Settings) -> list[Any]:
        return await with_engine(
            settings, lambda engine: plans.list_plans(engine, stage=stage_value, kind=kind_value)
        )

    rows = run(job)
    if as_json:
        emit(rows, True)
        return
    table = Table(title=f"Plans 预案 ({len(rows)})", title_justify="left")
    for col in ("code", "name", "kind", "level", "stage", "ver", "filing due", "evaluation due"):
        table.add_column(col)
    for r in rows:
        filing = f"{r.filing_due}{' 逾期' if r.filing_overdue else ''}" if r.filing_due else ""
        table.add_row(
            r.code,
            r.name,
            PlanKind(r.kind).label,
            PlanLevel(r.level).label,
            PlanStage(r.stage).label,
            str(r.version),
            filing,
            str(r.evaluation_due or ""),
        )
    out.print(table)
