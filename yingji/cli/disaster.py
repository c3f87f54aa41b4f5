"""``yingji disaster``: disaster processes and their reports (初报/续报/核报)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
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
    read_json_object,
    request_id,
    run,
    send_once,
    when,
    with_engine,
)

if TYPE_CHECKING:
    from models.disaster import (
        DisasterView,
        Indicators,
    )
    from models.warning import Contact
    from yingji.core.settings import Settings

disaster_app = typer.Typer(**TYPER, no_args_is_help=True)

Code = Annotated[str, typer.Argument(metavar="CODE", help="disaster process code")]


def _when(text: str | None, field: str) -> datetime:
    from models.common import CHINA_TZ

    if text is None:
        return datetime.now(CHINA_TZ)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"'{text}' is not an ISO time", param_hint=f"--{field}") from exc
    return value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)


def _contact(text: str | None, field: str) -> Contact | None:
    from models.warning import Contact

    if not text:
        return None
    name, _, phone = text.partition(":")
    if not name or not phone:
        raise typer.BadParameter(f"'{text}' is not NAME:PHONE", param_hint=f"--{field}")
    return Contact(name=name, phone=phone)


def print_disaster(v: DisasterView) -> None:
    from rich.table import Table

    out.print(
        f"[bold]{v.name}[/bold] ({v.code}) {v.district} {v.hazard}\n"
        f"  发生 {when(v.occurred_at)}"
        + (f"  台风 {v.typhoon_event_id}" if v.typhoon_event_id else "")
        + (f"  稳定 {v.stable_on}" if v.stable_on else "")
        + ("  [green]closed 已结束[/green]" if v.closed else ""),
        highlight=False,
    )
    table = Table(title="报送 slots", title_justify="left")
    for col in ("slot", "due (CST)", "report", "status", "late", "reminded", "escalated"):
        table.add_column(col)
    reports = {r.report_id: r for r in v.reports}
    for s in v.slots:
        record = reports.get(s.report_id or "")
        status = (
            record.status.label if record else ("[red]逾期[/red]" if s.key in v.overdue else "待报")
        )
        table.add_row(
            f"{s.kind.label} {s.key}",
            when(s.due),
            s.report_id or "",
            status,
            "迟报" if s.late else "",
            "✓" if s.reminded else "",
            "✓" if s.escalated else "",
        )
    out.print(table)
    if v.latest:
        x = v.latest
        out.print(
            f"  latest: 受灾 {x.affected:,}  紧急避险转移 {x.pre_evacuated:,}  "
            f"紧急转移安置 {x.relocated or 0:,}  死亡 {x.dead}  失踪 {x.missing}  "
            f"直接经济损失 {x.direct_loss:.2f} 万元",
            highlight=False,
        )


def finish(v: DisasterView, as_json: bool) -> None:
    emit(v, as_json, print_disaster)


async def _within(
    settings: Settings, code: str, rid: str, call: Any, action: str, data: Any
) -> DisasterView:
    from yingji.services import disaster as disasters

    wid = disasters.disaster_workflow_id(code)
    return await send_once(settings, rid, wid, action, data, call)


@disaster_app.command("open")
def disaster_open(
    code: Code,
    name: Annotated[str, typer.Option(help="e.g. 台风“梅花”灾害过程")],
    hazard: Annotated[str, typer.Option(help="台风, 暴雨洪涝, …")],
    officer: Annotated[str, typer.Option(help="A officer NAME:PHONE")],
    by: Annotated[str, typer.Option(help="值班员")],
    district: District = None,
    occurred_at: Annotated[
        str | None, typer.Option(help="ISO time, CST if no zone; default now")
    ] = None,
    backup: Annotated[str | None, typer.Option(help="B officer NAME:PHONE")] = None,
    head: Annotated[str | None, typer.Option(help="unit head NAME:PHONE")] = None,
    typhoon: Annotated[str | None, typer.Option(help="linked typhoon YEAR:NUMBER")] = None,
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """Open a disaster process: the 初报 falls due 2 hours after the event."""
    from models.disaster import DisasterOpen
    from yingji.services import disaster as disasters

    when = _when(occurred_at, "occurred-at")
    people = (_contact(officer, "officer"), _contact(backup, "backup"), _contact(head, "head"))
    rid = request_id(request)

    async def job(settings: Settings) -> DisasterView:
        data = DisasterOpen(
            code=code,
            name=name,
            hazard=hazard,
            district=district or settings.district,
            occurred_at=when,
            opened_by=by,
            officer=people[0],
            backup=people[1],
            head=people[2],
            typhoon_event_id=typhoon,
        )
        client = await client_for(settings)
        await disasters.open_disaster(client, settings, data, request_id=rid)
        return await disasters.show(client, code)

    finish(run(job, f"disaster {code}"), as_json)


@disaster_app.command("report")
def disaster_report(
    code: Code,
    kind: Annotated[str, typer.Option(help="initial|update|final (初报|续报|核报)")],
    report_id: Annotated[str, typer.Option()],
    by: Annotated[str, typer.Option()],
    file: Annotated[Path, typer.Option(help='JSON: {"indicators": {...}, "towns": [...], ...}')],
    as_of: Annotated[str | None, typer.Option(help="data as of (ISO); default now")] = None,
    explanation: str = "",
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Submit a report; a late one is accepted and marked late."""
    from models.disaster import DisasterReportInput, ReportKind
    from yingji.services import disaster as disasters

    report_kind = parse(ReportKind, kind, "kind")
    when = _when(as_of, "as-of")
    body = read_json_object(file, "--file")
    rid = request_id(request)

    async def job(settings: Settings) -> DisasterView:
        data = DisasterReportInput.model_validate(
            {
                "explanation": explanation,
                **body,
                "kind": report_kind,
                "report_id": report_id,
                "as_of": when,
                "by": by,
            }
        )
        call = disasters.submit(
            await client_for(settings), code, expecting(data, expect_stage), update_id=rid
        )
        return await _within(settings, code, rid, call, "report", data)

    finish(run(job, f"disaster {code}"), as_json)


@disaster_app.command("review")
def disaster_review(
    code: Code,
    report_id: Annotated[str, typer.Option()],
    reviewer: Annotated[str, typer.Option()],
    decision: Annotated[str, typer.Option(help="pass|reject|correct (通过|退回|修正)")],
    reason: str = "",
    corrected: Annotated[Path | None, typer.Option(help="JSON indicators, for correct")] = None,
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Review a report: pass, reject (back to the officer) or correct."""
    from pydantic import ValidationError

    from models.disaster import Decision, Indicators, ReviewInput
    from yingji.services import disaster as disasters

    verdict = parse(Decision, decision, "decision")
    fixed: Indicators | None = None
    if corrected is not None:
        try:
            fixed = Indicators.model_validate(read_json_object(corrected, "--corrected"))
        except ValidationError as exc:
            raise typer.BadParameter(str(exc), param_hint="--corrected") from exc
    rid = request_id(request)

    async def job(settings: Settings) -> DisasterView:
        data = ReviewInput(
            report_id=report_id, reviewer=reviewer, decision=verdict, reason=reason, corrected=fixed
        )
        call = disasters.review(
            await client_for(settings), code, expecting(data, expect_stage), update_id=rid
        )
        return await _within(settings, code, rid, call, "review", data)

    finish(run(job, f"disaster {code}"), as_json)


@disaster_app.command("stable")
def disaster_stable(
    code: Code,
    by: Annotated[str, typer.Option()],
    on: Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD, default today")] = None,
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Declare the situation stable: no more 续报; the 核报 falls due."""
    from models.disaster import StableInput
    from yingji.services import disaster as disasters

    day = parse_date(on, "on")
    rid = request_id(request)

    async def job(settings: Settings) -> DisasterView:
        data = expecting(StableInput(by=by, stable_on=day), expect_stage)
        call = disasters.declare_stable(await client_for(settings), code, data, update_id=rid)
        return await _within(settings, code, rid, call, "stable", data)

    finish(run(job, f"disaster {code}"), as_json)


@disaster_app.command("show")
def disaster_show(code: Code, as_json: Json = False) -> None:
    """Slots, deadlines, reports and the latest figures."""
    from yingji.services import disaster as disasters

    async def job(settings: Settings) -> DisasterView:
        return await disasters.show(await client_for(settings), code)

    finish(run(job, f"disaster {code}"), as_json)


@disaster_app.command("list")
def disaster_list(
    district: District = None,
    live: Annotated[bool, typer.Option("--live", help="only those still open")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Json = False,
) -> None:
    """The district's disaster processes, newest first: reports, late ones, overdue slots."""
    from yingji.services import disaster as disasters

    async def job(settings: Settings) -> list[dict[str, Any]]:
        where = district or settings.district
        return await with_engine(settings, lambda e: disasters.listed(e, where, live, limit))

    def render(found: list[dict[str, Any]]) -> None:
        from rich.table import Table

        table = Table(title=f"灾情过程 ({len(found)})", title_justify="left")
        for col in ("编号", "名称", "灾种", "发生", "报送", "迟报", "逾期", "状态"):
            table.add_column(col)
        for d in found:
            table.add_row(
                d["code"],
                d["name"],
                d["hazard"],
                when(d["occurred_at"]),
                str(d["reports"]),
                str(d["late_reports"]),
                "、".join(d["overdue_slots"] or []),
                "已结束" if d["closed"] else "进行中",
            )
        out.print(table)

    emit(run(job), as_json, render)
