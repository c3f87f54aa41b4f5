"""``yingji warning``: 叫应, calling each responsible person until they answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from yingji.cli.common import (
    TYPER,
    District,
    RequestId,
    client_for,
    out,
    request_id,
    run,
    with_engine,
)

if TYPE_CHECKING:
    from models.warning import WarningView
    from yingji.core.settings import Settings

warning_app = typer.Typer(**TYPER, no_args_is_help=True)


def print_warning(v: WarningView) -> None:
    from rich.table import Table

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
    district: District = None,
    unit: Annotated[
        list[str] | None, typer.Option(help="units to call (default: every 街镇)")
    ] = None,
    request: RequestId = None,
) -> None:
    """Issue a warning: call the A officer of each unit, escalating to the backup."""
    from models.warning import WarningIssue
    from yingji.services import warning as warnings

    rid = request_id(request)

    async def job(settings: Settings) -> WarningView:
        where = district or settings.district
        targets = await with_engine(
            settings, lambda engine: warnings.targets_from_roster(engine, where, unit)
        )
        issue = WarningIssue(
            warning_id=warning_id, title=title, district=where, issued_by=by, targets=targets
        )
        client = await client_for(settings)
        await warnings.issue_warning(client, settings, issue, request_id=rid)
        return await warnings.show(client, warning_id)

    print_warning(run(job, f"warning {warning_id}"))


@warning_app.command("ack")
def warning_ack(
    warning_id: Annotated[str, typer.Argument()],
    person: Annotated[str, typer.Option(help="who answers")],
    via: str = "phone",
    request: RequestId = None,
) -> None:
    """Record an acknowledgement (应答)."""
    from models.warning import AckInput
    from yingji.services import warning as warnings

    rid = request_id(request)

    async def job(settings: Settings) -> WarningView:
        from yingji.services.requests import within

        client = await client_for(settings)
        call = warnings.acknowledge(
            client, warning_id, AckInput(person=person, via=via), update_id=rid
        )
        wid = warnings.warning_workflow_id(warning_id)
        return await within(settings.request_wait_seconds, wid, rid, call)

    print_warning(run(job, f"warning {warning_id}"))


@warning_app.command("show")
def warning_show(warning_id: Annotated[str, typer.Argument()]) -> None:
    """Each call's state, the 叫应率 and the response times."""
    from yingji.services import warning as warnings

    async def job(settings: Settings) -> WarningView:
        return await warnings.show(await client_for(settings), warning_id)

    print_warning(run(job, f"warning {warning_id}"))
