"""``yingji warning``: 叫应, calling each responsible person until they answer.

A warning issued now calls the register of responsible people (``yingji responsible``), fanned
out by 街镇 (``WarningFanout``); a warning issued before, or loaded from a past year, is the
older ``WarningCall``, which ``show`` and ``ack`` still serve."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from yingji.cli.common import (
    TYPER,
    CliError,
    District,
    Json,
    RequestId,
    client_for,
    emit,
    out,
    request_id,
    run,
    send_once,
    when,
    with_engine,
)

if TYPE_CHECKING:
    from models.fanout import FanoutView
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


def print_fanout(v: FanoutView) -> None:
    from rich.table import Table

    from models.fanout import BUCKETS

    out.print(
        f"[bold]{v.title}[/bold] ({v.warning_id}) {v.district}, {v.level.label}级, "
        f"{v.who.label}, issued by {v.issued_by}\n"
        f"  叫应率 {v.call_response_rate:.0%}; {v.answered}/{v.chains} answered, "
        f"未叫醒 {v.not_reached}, 未送达 {v.undelivered}; "
        f"{'finished' if v.finished else 'calling'}",
        highlight=False,
    )
    limits = [f"≤{s}s" for s in BUCKETS] + [f">{BUCKETS[-1]}s"]
    if any(v.histogram):
        out.print(
            "  response times: "
            + ", ".join(f"{k} {n}" for k, n in zip(limits, v.histogram, strict=True) if n),
            highlight=False,
        )
    if v.gaps:
        out.print(f"  nobody to call (无责任人): {'、'.join(v.gaps[:20])}", highlight=False)
    table = Table(title="街镇", title_justify="left")
    for col in ("街镇", "chains", "answered", "未叫醒", "未送达", "calling"):
        table.add_column(col)
    for t in v.towns:
        table.add_row(
            t.town_name,
            str(t.chains),
            str(t.answered),
            str(t.not_reached),
            str(t.undelivered),
            str(t.calling),
        )
    out.print(table)


@warning_app.command("issue")
def warning_issue(
    warning_id: Annotated[str, typer.Argument(help="e.g. JD-2024-0916-RED")],
    title: Annotated[str, typer.Option(help="e.g. 台风红色预警")],
    by: Annotated[str, typer.Option(help="发布人")],
    district: District = None,
    level: Annotated[
        str, typer.Option(help="district|town|village (区级|街镇|村居): whom to call")
    ] = "town",
    unit: Annotated[
        list[str] | None,
        typer.Option(help="narrow to these units (code or name; a 街镇 for its 村居)"),
    ] = None,
    who: Annotated[
        str, typer.Option(help="responsible (防汛防台责任人)|officer (灾害信息员)|both (两者)")
    ] = "responsible",
    request: RequestId = None,
    as_json: Json = False,
) -> None:
    """Issue a warning: call every responsible person of that level, by 街镇, escalating down
    each unit's order (1 first, then 2 …) until someone answers."""
    from models.fanout import CallLevel, CallSource, FanoutIssue
    from yingji.cli.common import parse
    from yingji.services import fanout
    from yingji.services.requests import within
    from yingji.services.warning import warning_workflow_id

    call_level, source = parse(CallLevel, level, "level"), parse(CallSource, who, "who")
    rid = request_id(request)

    async def job(settings: Settings) -> FanoutView:
        data = FanoutIssue(
            warning_id=warning_id,
            title=title,
            district=district or settings.district,
            issued_by=by,
            level=call_level,
            who=source,
            units=unit or None,
        )
        client = await client_for(settings)
        await with_engine(
            settings,
            lambda engine: fanout.issue(client, settings, data, request_id=rid, engine=engine),
        )
        wid = warning_workflow_id(warning_id)

        return await within(
            settings.request_wait_seconds, wid, rid, fanout.laid_out(client, warning_id)
        )

    emit(run(job, f"warning {warning_id}"), as_json, print_fanout)


@warning_app.command("ack")
def warning_ack(
    warning_id: Annotated[str, typer.Argument()],
    person: Annotated[str, typer.Option(help="who answers: person id, phone, or name")],
    via: str = "phone",
    request: RequestId = None,
    as_json: Json = False,
) -> None:
    """Record an answer (应答); it reaches the batch that calls the person."""
    from models.fanout import FanoutAck
    from models.warning import AckInput
    from yingji.services import fanout
    from yingji.services import warning as warnings

    rid = request_id(request)
    asked = {"person": person, "via": via}

    async def job(settings: Settings) -> Any:
        wid = warnings.warning_workflow_id(warning_id)

        async def answer(engine: Any) -> Any:
            ack = FanoutAck(person=person, via=via)
            if await fanout.answered_here(engine, warning_id):
                # Recorded in the database; Temporal is only told (and may be down).
                try:
                    client = await client_for(settings)
                except CliError:
                    client = None
                call = fanout.acknowledge(client, engine, warning_id, ack, update_id=rid)
                return await send_once(settings, rid, wid, "ack", asked, call)
            client = await client_for(settings)
            if await fanout.kind(client, warning_id) == warnings.WORKFLOW_TYPE:
                old = AckInput(person=person, via=via)
                call = warnings.acknowledge(client, warning_id, old, update_id=rid)
                return await send_once(settings, rid, wid, "ack", asked, call)
            call = fanout.acknowledge(client, engine, warning_id, ack, update_id=rid)
            return await send_once(settings, rid, wid, "ack", asked, call)

        return await with_engine(settings, answer)

    def render(v: Any) -> None:
        if hasattr(v, "calls"):  # a WarningCall's view
            said = f"answered; 叫应率 {v.call_response_rate:.0%}"
        else:
            seconds = f" after {v.response_seconds:.0f}s" if v.response_seconds else ""
            said = f"{v.chain_id}: {v.status.label}{seconds}"
        out.print(said, highlight=False)

    emit(run(job, f"warning {warning_id}"), as_json, render)


@warning_app.command("show")
def warning_show(warning_id: Annotated[str, typer.Argument()], as_json: Json = False) -> None:
    """Each 街镇's progress, the 叫应率 and the response times."""
    from yingji.services import fanout
    from yingji.services import warning as warnings

    async def job(settings: Settings) -> Any:
        client = await client_for(settings)
        if await fanout.kind(client, warning_id) == warnings.WORKFLOW_TYPE:
            return await warnings.show(client, warning_id)
        return await fanout.show(client, warning_id)

    emit(
        run(job, f"warning {warning_id}"),
        as_json,
        lambda v: print_warning(v) if hasattr(v, "calls") else print_fanout(v),
    )


@warning_app.command("list")
def warning_list(
    district: District = None,
    live: Annotated[bool, typer.Option("--live", help="only those still calling")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Json = False,
) -> None:
    """The warnings of the district, newest first: 叫应率, answered, 未叫醒, calling or finished."""
    from yingji.services import fanout

    async def job(settings: Settings) -> list[dict[str, Any]]:
        where = district or settings.district
        return await with_engine(settings, lambda e: fanout.listed(e, where, live, limit))

    def render(found: list[dict[str, Any]]) -> None:
        from rich.table import Table

        table = Table(title=f"叫应 ({len(found)})", title_justify="left")
        for col in ("编号", "标题", "发布", "发布人", "叫应率", "应答", "未叫醒", "状态"):
            table.add_column(col)
        for w in found:
            table.add_row(
                w["warning_id"],
                w["title"],
                when(w["issued_at"]),
                w["issued_by"],
                f"{w['call_response_rate']:.0%}",
                f"{w['answered']}/{w['targets']}",
                str(w["not_reached"]),
                "已结束" if w["finished"] else "叫应中",
            )
        out.print(table)

    emit(run(job), as_json, render)
