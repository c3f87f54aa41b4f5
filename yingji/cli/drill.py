"""``yingji drill``: drills (应急演练), their programmes, and plan coverage."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from yingji.cli.common import (
    TYPER,
    CliError,
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
    read_json_object,
    request_id,
    run,
    send_once,
    with_engine,
)

if TYPE_CHECKING:
    from models.drill import (
        DrillView,
        ProgrammeView,
    )
    from yingji.core.settings import Settings
    from yingji.services import drill as drills

drill_app = typer.Typer(**TYPER, no_args_is_help=True)
programme_app = typer.Typer(**TYPER, no_args_is_help=True, help="A unit's yearly drill programme.")
drill_app.add_typer(programme_app, name="programme")

Code = Annotated[str, typer.Argument(metavar="CODE", help="drill code, e.g. JD-JA-2024")]
By = Annotated[str, typer.Option(help="经办人")]


def print_drill(v: DrillView) -> None:
    from rich.table import Table

    out.print(f"[bold]{v.name}[/bold]  ({v.code})  {v.drill_type.label}", highlight=False)
    out.print(
        f"  阶段 stage: [bold]{v.stage_label}[/bold] ({v.stage.value})\n"
        f"  日期 date: {v.scheduled_on}   地点 site: {v.site}\n"
        f"  情景 scenario: {v.scenario}\n"
        f"  组织 organiser: {v.organiser}   参演 participants: {', '.join(v.participants) or '—'}\n"
        f"  预案 plans: {', '.join(v.linked_plans) or '—'}\n"
        + (f"  辖区 district: {v.district}\n" if v.district else "")
        + f"  next: {', '.join(a.value for a in v.allowed_actions) or '—'}",
        highlight=False,
    )
    for p in v.postponements:
        out.print(f"  延期 postponed {p['from']} → {p['to']}: {p['reason']}", highlight=False)
    if v.date_passed_unconducted:
        out.print("  [red]date passed without the drill being recorded as conducted[/red]")
    if v.conduct:
        out.print(
            f"  实施 conducted {v.conduct.conducted_on}, {v.conduct.participant_count} people; "
            f"{'、'.join(v.conduct.segments)}",
            highlight=False,
        )
    if v.evaluation_due and not v.evaluation:
        flag = " [red]OVERDUE 逾期[/red]" if v.evaluation_overdue else ""
        out.print(f"  评估报告 due {v.evaluation_due}{flag}", highlight=False)
    if v.evaluation:
        who = "third party 第三方" if v.evaluation.third_party else "internal"
        out.print(f"  评估 {v.evaluation.evaluated_on} by {v.evaluation.evaluator} ({who})")
    if v.findings:
        table = Table(title="Findings 发现问题", title_justify="left")
        for col in ("#", "severity", "category", "description", "plan"):
            table.add_column(col)
        for f in v.findings:
            plan = (
                f"{f.plan_code} ({'revision requested' if f.plan_notified else 'NOT sent'})"
                if f.plan_defect
                else ""
            )
            table.add_row(str(f.number), f.severity.label, f.category.label, f.description, plan)
        out.print(table)
    if v.actions:
        table = Table(title="Corrective actions 整改", title_justify="left")
        for col in ("#", "finding", "action", "owner", "due", "status"):
            table.add_column(col)
        for a in v.actions:
            status = (
                f"done {a.done_on}"
                if a.done_on
                else ("[red]OVERDUE 逾期[/red]" if a.overdue else "open")
            )
            table.add_row(
                str(a.number), str(a.finding), a.description, a.owner, str(a.due_on), status
            )
        out.print(table)


def finish(v: DrillView, as_json: bool) -> None:
    emit(v, as_json, print_drill)


def _act(
    code: str,
    action: str,
    build: Callable[[], Any],
    as_json: bool,
    request: str | None = None,
    expect: str | None = None,
    check: Callable[[DrillView], None] | None = None,
) -> None:
    from yingji.services import drill as drills

    rid = request_id(request)

    async def job(settings: Settings) -> DrillView:
        data = expecting(build(), expect)
        client = await client_for(settings)
        if check is not None:
            check(await drills.show(client, code))
        call = drills.act(client, code, action, data, update_id=rid)
        return await send_once(settings, rid, drills.drill_workflow_id(code), action, data, call)

    finish(run(job, f"drill {code}"), as_json)


def _required_date(text: str, field: str) -> date:
    day = parse_date(text, field)
    assert day is not None
    return day


@drill_app.command("plan")
def drill_plan(
    code: Code,
    name: Annotated[str, typer.Option(help="演练名称, e.g. 嘉安-2024")],
    scenario: Annotated[str, typer.Option(help="演练情景")],
    organiser: Annotated[str, typer.Option(help="组织单位")],
    site: Annotated[str, typer.Option(help="地点")],
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    participant: Annotated[list[str] | None, typer.Option(help="参演单位 (repeat)")] = None,
    plan: Annotated[list[str] | None, typer.Option(help="linked plan code (repeat)")] = None,
    district: District = None,
    drill_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="live|tabletop|comprehensive|single|comprehensive_live|… or 中文 "
            "(实战演练, 桌面推演, 综合演练, 综合实战演练 …)",
        ),
    ] = None,
    form: Annotated[
        str | None, typer.Option(help="形式: live|tabletop or 实战演练|桌面推演")
    ] = None,
    scope: Annotated[
        str | None, typer.Option(help="范围: single|comprehensive or 单项|综合")
    ] = None,
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """Plan a drill (演练方案); reminders go out before its date. Say what it is with --type,
    or with its form (--form 实战演练) and scope (--scope 综合): a 综合实战演练 is both."""
    from models.drill import DrillCreate, DrillForm, DrillScope, DrillType
    from yingji.services import drill as drills
    from yingji.services.requests import within

    if drill_type is not None and (form is not None or scope is not None):
        raise typer.BadParameter("give --type, or --form and/or --scope, not both", "--type")
    if drill_type is not None:
        kind = parse(DrillType, drill_type, "type")
    elif form is None and scope is None:
        raise typer.BadParameter("give --type, or --form and/or --scope", param_hint="--type")
    else:
        kind = DrillType.of(
            parse(DrillForm, form, "form") if form else None,
            parse(DrillScope, scope, "scope") if scope else None,
        )
    day = _required_date(on, "date")
    rid = request_id(request)

    async def job(settings: Settings) -> DrillView:
        data = DrillCreate(
            code=code,
            name=name,
            drill_type=kind,
            scenario=scenario,
            organiser=organiser,
            site=site,
            scheduled_on=day,
            participants=participant or [],
            linked_plans=plan or [],
            district=district,
        )
        client = await client_for(settings)
        await drills.create_drill(client, settings, data, request_id=rid)
        answer = drills.show(client, code)
        return await within(
            settings.request_wait_seconds, drills.drill_workflow_id(code), rid, answer
        )

    finish(run(job, f"drill {code}"), as_json)


@drill_app.command("postpone")
def drill_postpone(
    code: Code,
    to: Annotated[str, typer.Option(help="new date YYYY-MM-DD")],
    reason: Annotated[str, typer.Option(help="原因, e.g. 台风影响")],
    by: By,
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Move the drill to a new date."""
    from models.drill import PostponeInput

    day = _required_date(to, "to")
    _act(
        code,
        "postpone",
        lambda: PostponeInput(new_date=day, reason=reason, by=by),
        as_json,
        request=request,
        expect=expect_stage,
    )


@drill_app.command("cancel")
def drill_cancel(
    code: Code,
    reason: Annotated[str, typer.Option()],
    by: By,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
    as_json: Json = False,
) -> None:
    """Cancel a planned drill."""
    from models.drill import CancelInput

    _act(
        code,
        "cancel",
        lambda: CancelInput(reason=reason, by=by),
        as_json,
        request=request,
        expect=expect_stage,
    )


@drill_app.command("conduct")
def drill_conduct(
    code: Code,
    participants: Annotated[int, typer.Option(help="参演人数")],
    by: By,
    segment: Annotated[list[str] | None, typer.Option(help="演练科目 (repeat)")] = None,
    observations: str = "",
    on: Annotated[
        str | None,
        typer.Option("--on", help="YYYY-MM-DD, default today (a drill not yet due needs it)"),
    ] = None,
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Record that the drill took place; the evaluation report falls due. Without --on it took
    place today, which a drill scheduled for a later day refuses: give the day it took place."""
    from models.common import CHINA_TZ
    from models.drill import ConductInput

    day = parse_date(on, "on")

    def due(v: DrillView) -> None:
        today = datetime.now(CHINA_TZ).date()
        if day is None and v.scheduled_on > today:
            raise CliError(
                f"on: drill {code} is scheduled for {v.scheduled_on} (today is {today}); if it "
                f"took place already, say when with --on YYYY-MM-DD"
            )

    _act(
        code,
        "conduct",
        lambda: ConductInput(
            conducted_on=day,
            participant_count=participants,
            segments=segment or [],
            observations=observations,
            by=by,
        ),
        as_json,
        request=request,
        expect=expect_stage,
        check=due,
    )


@drill_app.command("evaluate")
def drill_evaluate(
    code: Code,
    evaluator: Annotated[str, typer.Option(help="评估人/评估组")],
    summary: Annotated[str, typer.Option(help="评估结论")],
    third_party: Annotated[bool, typer.Option(help="third-party evaluation 第三方评估")] = False,
    file: Annotated[
        Path | None,
        typer.Option(help='JSON: {"findings": [...], "actions": [...]} (see README)'),
    ] = None,
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Record the evaluation: findings (发现问题) and corrective actions (整改)."""
    from models.drill import DrillEvaluateInput

    extra: dict[str, Any] = {}
    if file is not None:
        extra = read_json_object(file, "--file")
    _act(
        code,
        "evaluate",
        lambda: DrillEvaluateInput(
            evaluator=evaluator, summary=summary, third_party=third_party, **extra
        ),
        as_json,
        request=request,
        expect=expect_stage,
    )


@drill_app.command("action-done")
def drill_action_done(
    code: Code,
    action: Annotated[int, typer.Argument(help="corrective action number")],
    by: By,
    note: str = "",
    on: Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD, default today")] = None,
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Mark a corrective action (整改) done; with all done the drill closes."""
    from models.drill import ActionDoneInput

    day = parse_date(on, "on")
    _act(
        code,
        "action-done",
        lambda: ActionDoneInput(action=action, by=by, note=note, done_on=day),
        as_json,
        request=request,
        expect=expect_stage,
    )


@drill_app.command("show")
def drill_show(code: Code, as_json: Json = False) -> None:
    """A drill's stage, dates, findings and corrective actions."""
    from yingji.services import drill as drills

    async def job(settings: Settings) -> DrillView:
        return await drills.show(await client_for(settings), code)

    finish(run(job, f"drill {code}"), as_json)


@drill_app.command("list")
def drill_list(
    year: Annotated[int | None, typer.Option(help="drills dated in this year")] = None,
    organiser: Annotated[str | None, typer.Option(help="组织单位")] = None,
    as_json: Json = False,
) -> None:
    """The drill calendar (from the database)."""
    from rich.table import Table

    from models.drill import DrillType
    from yingji.services import drill as drills

    async def job(settings: Settings) -> list[Any]:
        return await with_engine(
            settings, lambda engine: drills.list_drills(engine, year=year, organiser=organiser)
        )

    found = run(job)
    if as_json:
        emit(found, True)
        return
    table = Table(title=f"Drills 演练 ({len(found)})", title_justify="left")
    for col in ("date", "code", "name", "type", "organiser", "stage", "open actions"):
        table.add_column(col)
    for r in found:
        table.add_row(
            str(r.scheduled_on),
            r.code,
            r.name,
            DrillType(r.drill_type).label,
            r.organiser,
            r.stage,
            f"{r.open_actions} ({r.overdue_actions} overdue)" if r.open_actions else "",
        )
    out.print(table)


@drill_app.command("coverage")
def drill_coverage(
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD, default today")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="also plans that are covered")] = False,
    as_json: Json = False,
) -> None:
    """Plans in force not drilled within their required cadence, and by how long."""
    from rich.table import Table

    from models.common import CHINA_TZ
    from models.plan import PlanKind
    from yingji.services import drill as drills

    day = parse_date(as_of, "as-of")

    async def job(settings: Settings) -> list[drills.CoverageRow]:
        when = day or datetime.now(CHINA_TZ).date()
        return await with_engine(
            settings, lambda engine: drills.coverage(engine, settings, when, only_gaps=not show_all)
        )

    found = run(job)
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        **r.__dict__,
                        "last_drilled": str(r.last_drilled or ""),
                        "due": str(r.due),
                        "never_drilled": r.never_drilled,
                    }
                    for r in found
                ],
                ensure_ascii=False,
            )
        )
        return
    table = Table(title=f"Drill coverage 预案演练覆盖 ({len(found)})", title_justify="left")
    for col in ("plan", "name", "kind", "cadence", "last drilled", "due", "status"):
        table.add_column(col)
    for r in found:
        if r.overdue_days > 0:
            status = f"[red]overdue {r.overdue_days} days 逾期[/red]"
        else:
            status = f"due in {-r.overdue_days} days"
        table.add_row(
            r.plan_code,
            r.plan_name,
            PlanKind(r.kind).label,
            f"{r.cadence_months} months",
            str(r.last_drilled) if r.last_drilled else "never 从未演练",
            str(r.due),
            status,
        )
    out.print(table)


@programme_app.command("start")
def programme_start(
    unit: Annotated[str, typer.Option(help="单位")],
    unit_code: Annotated[str, typer.Option(help="short code used in drill codes")],
    year: Annotated[int, typer.Option()],
    participant: Annotated[list[str] | None, typer.Option(help="参演单位 (repeat)")] = None,
    plan: Annotated[list[str] | None, typer.Option(help="linked plan code (repeat)")] = None,
    cadence: Annotated[
        Path | None,
        typer.Option(help="JSON list of cadence items; default: monthly/quarterly/annual"),
    ] = None,
    request: RequestId = None,
    as_json: Json = False,
) -> None:
    """Start a unit's programme for a year; each drill starts ahead of its date."""
    from pydantic import TypeAdapter, ValidationError

    from models.drill import CadenceItem, ProgrammeInput
    from yingji.services import drill as drills

    try:
        items = (
            TypeAdapter(list[CadenceItem]).validate_json(cadence.read_bytes())
            if cadence
            else drills.default_cadence(year, plan)
        )
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {cadence}: {exc}", param_hint="--cadence") from exc
    except ValidationError as exc:
        from yingji.core.errors import plain_errors

        problems = plain_errors(exc.errors())  # type: ignore[arg-type]
        raise typer.BadParameter(problems, param_hint="--cadence") from None
    rid = request_id(request)

    async def job(settings: Settings) -> ProgrammeView:
        data = ProgrammeInput(
            unit=unit,
            unit_code=unit_code,
            year=year,
            items=items,
            participants=participant or [],
            lead_days=settings.drill_programme_lead_days,
            rules=drills.rules_from(settings),
        )
        client = await client_for(settings)
        await drills.start_programme(client, settings, data, request_id=rid)
        return await drills.programme_view(client, unit_code, year)

    emit(
        run(job, f"programme {unit_code}:{year}"),
        as_json,
        lambda v: out.print(
            f"programme {v.programme_id} started for {v.unit} {v.year}", highlight=False
        ),
    )


@programme_app.command("show")
def programme_show(
    unit_code: Annotated[str, typer.Argument()],
    year: Annotated[int, typer.Argument()],
    as_json: Json = False,
) -> None:
    """A programme's drills, their dates and whether each has started."""
    from rich.table import Table

    from yingji.services import drill as drills

    async def job(settings: Settings) -> ProgrammeView:
        client = await client_for(settings)
        return await drills.programme_view(client, unit_code, year)

    v = run(job, f"programme {unit_code}:{year}")
    if as_json:
        emit(v, True)
        return
    table = Table(title=f"{v.unit} {v.year} 演练计划 ({len(v.drills)})", title_justify="left")
    for col in ("date", "code", "name", "status"):
        table.add_column(col)
    for d in v.drills:
        table.add_row(str(d.scheduled_on), d.code, d.name, d.status)
    out.print(table)
    if not v.calendar_exact:
        out.print(
            "  (working days estimated: the official calendar for that year is not known yet)"
        )
