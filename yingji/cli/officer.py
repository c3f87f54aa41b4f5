"""``yingji officer`` and ``yingji warning``: the roster and 叫应."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from models.warning import AckInput, WarningIssue, WarningView
from yingji import roster, warnings
from yingji.cli.common import client_for, out, run, with_engine
from yingji.settings import Settings

officer_app = typer.Typer(no_args_is_help=True, help="Disaster information officers (灾害信息员).")
warning_app = typer.Typer(no_args_is_help=True, help="叫应: call each responsible person.")


@officer_app.command("import")
def officer_import(
    file: Annotated[Path, typer.Argument(help="CSV: unit,role,name,phone[,email,active]")],
) -> None:
    """Import the roster; a file with any bad line is refused whole, nothing written."""
    try:
        content = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from exc
    try:
        rows = roster.parse_csv(content)
    except roster.RosterError as exc:
        for e in exc.errors:
            out.print(f"  {e}", highlight=False)
        raise typer.BadParameter(
            f"{len(exc.errors)} problem(s); nothing imported", param_hint="FILE"
        ) from exc

    async def job(settings: Settings) -> int:
        return await with_engine(settings, lambda engine: roster.import_rows(engine, rows))

    out.print(f"imported {run(job)} officer line(s)")


@officer_app.command("list")
def officer_list(district: Annotated[str | None, typer.Option(help="区")] = None) -> None:
    """The roster, by unit."""

    async def job(settings: Settings) -> list[dict]:
        return await with_engine(settings, lambda engine: roster.list_officers(engine, district))

    found = run(job)
    table = Table(title=f"灾害信息员 ({len(found)})", title_justify="left")
    for col in ("unit", "level", "role", "name", "phone", "active"):
        table.add_column(col)
    for r in found:
        table.add_row(
            r["unit_code"],
            r["level"],
            r["role"],
            r["name"],
            r["phone"],
            "在岗" if r["active"] else "[red]离岗[/red]",
        )
    out.print(table)


@officer_app.command("gaps")
def officer_gaps(district: Annotated[str, typer.Option(help="区")] = "嘉定区") -> None:
    """Units with no active officer (and units with only a backup)."""

    async def job(settings: Settings) -> list[roster.Gap]:
        return await with_engine(settings, lambda engine: roster.gaps(engine, district))

    found = run(job)
    table = Table(title=f"{district} 灾害信息员空缺 ({len(found)})", title_justify="left")
    for col in ("unit", "level", "missing"):
        table.add_column(col)
    for g in found:
        what = (
            "[red]no active officer 无人在岗[/red]"
            if g.missing == "A and B"
            else "no A officer (B only)"
        )
        table.add_row(g.unit_code, g.level, what)
    out.print(table)


def print_warning(v: WarningView) -> None:
    out.print(
        f"[bold]{v.title}[/bold] ({v.warning_id}) {v.district}, issued by {v.issued_by}\n"
        f"  叫应率 {v.call_response_rate:.0%} ({v.answered}/{v.targets} answered in the window), "
        f"未叫醒 {v.not_reached}; {'finished' if v.finished else 'calling'}",
        highlight=False,
    )
    r = v.responses
    if r.count:
        out.print(
            f"  response p50 {r.p50_seconds:.0f}s p90 {r.p90_seconds:.0f}s "
            f"max {r.max_seconds:.0f}s; " + ", ".join(f"{k} {n}" for k, n in r.buckets.items()),
            highlight=False,
        )
    table = Table(title="叫应", title_justify="left")
    for col in ("unit", "person", "status", "attempts", "answered by", "seconds"):
        table.add_column(col)
    for c in v.calls:
        table.add_row(
            c.unit,
            c.person,
            c.status.label,
            str(c.attempts),
            c.acked_by or "",
            f"{c.response_seconds:.0f}" if c.response_seconds is not None else "",
        )
    out.print(table)


@warning_app.command("issue")
def warning_issue(
    warning_id: Annotated[str, typer.Argument(help="e.g. JD-2024-0916-RED")],
    title: Annotated[str, typer.Option(help="e.g. 台风红色预警")],
    by: Annotated[str, typer.Option(help="发布人")],
    district: Annotated[str, typer.Option()] = "嘉定区",
    unit: Annotated[
        list[str] | None, typer.Option(help="units to call (default: every 街镇)")
    ] = None,
) -> None:
    """Issue a warning: call the A officer of each unit, escalating to the backup."""

    async def job(settings: Settings) -> WarningView:
        targets = await with_engine(
            settings, lambda engine: warnings.targets_from_roster(engine, district, unit)
        )
        issue = WarningIssue(
            warning_id=warning_id, title=title, district=district, issued_by=by, targets=targets
        )
        client = await client_for(settings)
        await warnings.issue_warning(client, settings, issue)
        return await warnings.show(client, warning_id)

    print_warning(run(job, f"warning {warning_id}"))


@warning_app.command("ack")
def warning_ack(
    warning_id: Annotated[str, typer.Argument()],
    person: Annotated[str, typer.Option(help="who answers")],
    via: str = "phone",
) -> None:
    """Record an acknowledgement (应答)."""

    async def job(settings: Settings) -> WarningView:
        return await warnings.acknowledge(
            await client_for(settings), warning_id, AckInput(person=person, via=via)
        )

    print_warning(run(job, f"warning {warning_id}"))


@warning_app.command("show")
def warning_show(warning_id: Annotated[str, typer.Argument()]) -> None:
    """Each call's state, the 叫应率 and the response times."""

    async def job(settings: Settings) -> WarningView:
        return await warnings.show(await client_for(settings), warning_id)

    print_warning(run(job, f"warning {warning_id}"))
