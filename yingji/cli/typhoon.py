"""``yingji typhoon``: typhoon evacuation tallies (台风 紧急转移安置)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from yingji.cli.common import (
    TYPER,
    District,
    ExpectStage,
    RequestId,
    client_for,
    expecting,
    out,
    parse,
    request_id,
    run,
    send_once,
    with_engine,
)

if TYPE_CHECKING:
    from models.typhoon import (
        TyphoonBoard,
    )
    from yingji.core.settings import Settings

typhoon_app = typer.Typer(**TYPER, no_args_is_help=True)

Event = Annotated[str, typer.Argument(metavar="YEAR:NUMBER", help="e.g. 2024:13 (贝碧嘉)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON")]


def _event_id(text: str) -> str:
    year, _, number = text.partition(":")
    if not (year.isdigit() and number.isdigit()):
        raise typer.BadParameter(f"'{text}' is not YEAR:NUMBER, e.g. 2024:13")
    return f"{int(year)}:{int(number)}"


def print_board(b: TyphoonBoard) -> None:
    from rich.table import Table

    out.print(
        f"[bold]{b.year}年第{b.number}号台风「{b.name}」[/bold] {b.district}  "
        f"({b.status.label})\n"
        f"  响应 {b.level.label}  {b.warning.label}   "
        f"batches applied {b.batches_applied}, reports {b.reports_applied}",
        highlight=False,
    )
    table = Table(title="转移安置 by 街镇", title_justify="left")
    for col in ("街镇", "紧急避险转移", "紧急转移安置", "集中", "分散", "返回", "避难场所", "在住"):
        table.add_column(col, justify="right" if col != "街镇" else "left")
    for t in b.towns:
        v = t.totals
        table.add_row(
            f"{t.name} ({t.town})" if t.name else t.town,
            *(
                f"{x:,}"
                for x in (
                    v.pre_evacuated,
                    v.relocated,
                    v.centralized,
                    v.dispersed,
                    v.returned,
                    v.shelters_open,
                    v.sheltered_now,
                )
            ),
        )
    d = b.district_totals
    table.add_row(
        "[bold]合计[/bold]",
        *(
            f"[bold]{x:,}[/bold]"
            for x in (
                d.pre_evacuated,
                d.relocated,
                d.centralized,
                d.dispersed,
                d.returned,
                d.shelters_open,
                d.sheltered_now,
            )
        ),
    )
    out.print(table)
    peak = f" at {b.peak_at:%Y-%m-%d %H:%M} UTC" if b.peak_at else ""
    out.print(
        f"  peak sheltered 峰值在住 {b.peak_sheltered:,}{peak}; units reported {d.units_reported}",
        highlight=False,
    )
    for record in b.levels:
        out.print(
            f"  {record.at:%m-%d %H:%M} {record.level.label} {record.warning.label} "
            f"({record.by}) {record.note}",
            highlight=False,
        )


def finish(b: TyphoonBoard, as_json: bool) -> None:
    if as_json:
        out.print_json(b.model_dump_json())
    else:
        print_board(b)


@typhoon_app.command("open")
def typhoon_open(
    event: Event,
    name: Annotated[str, typer.Option(help="台风名, e.g. 贝碧嘉")],
    district: District = None,
    by: Annotated[str, typer.Option(help="值班员")] = "值班员",
    level: Annotated[str, typer.Option(help="IV|III|II|I|none or Ⅳ级…")] = "none",
    warning: Annotated[str, typer.Option(help="blue|yellow|orange|red|none")] = "none",
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """Open a typhoon event: its units may report from now on."""
    from models.typhoon import ResponseLevel, TyphoonOpen, WarningColour
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    year, number = (int(x) for x in event_id.split(":"))
    lvl, warn = parse(ResponseLevel, level, "level"), parse(WarningColour, warning, "warning")
    rid = request_id(request)

    async def job(settings: Settings) -> TyphoonBoard:
        data = TyphoonOpen(
            year=year,
            number=number,
            name=name,
            district=district or settings.district,
            opened_by=by,
            level=lvl,
            warning=warn,
        )
        client = await client_for(settings)

        async def open_it(engine: Any) -> None:
            await typhoons.open_typhoon(client, engine, settings, data, request_id=rid)

        await with_engine(settings, open_it)
        return await typhoons.board(client, event_id)

    finish(run(job, f"typhoon {event_id}"), as_json)


@typhoon_app.command("level")
def typhoon_level(
    event: Event,
    level: Annotated[str, typer.Option(help="IV|III|II|I|none")],
    warning: Annotated[str, typer.Option(help="blue|yellow|orange|red|lifted")],
    by: Annotated[str, typer.Option()],
    note: str = "",
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Change the response level and warning colour (timestamped)."""
    from models.typhoon import LevelChange, ResponseLevel, WarningColour
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    data_level, data_warning = (
        parse(ResponseLevel, level, "level"),
        parse(WarningColour, warning, "warning"),
    )
    rid = request_id(request)

    async def job(settings: Settings) -> TyphoonBoard:
        client = await client_for(settings)
        data = expecting(
            LevelChange(level=data_level, warning=data_warning, by=by, note=note), expect_stage
        )
        call = typhoons.change_level(client, event_id, data, update_id=rid)
        wid = typhoons.typhoon_workflow_id(event_id)
        return await send_once(settings, rid, wid, "level", data, call)

    finish(run(job, f"typhoon {event_id}"), as_json)


@typhoon_app.command("report")
def typhoon_report(
    event: Event,
    unit: Annotated[str, typer.Option(help="街镇 or 村居: its code or its name")],
    report_id: Annotated[str, typer.Option(help="idempotency key of this report")],
    by: Annotated[str, typer.Option(help="报送人")],
    as_of: Annotated[
        str | None, typer.Option(help="figures as of (ISO time, CST if no zone)")
    ] = None,
    pre: Annotated[int, typer.Option(help="紧急避险转移")] = 0,
    centralized: Annotated[int, typer.Option(help="集中安置")] = 0,
    dispersed: Annotated[int, typer.Option(help="分散安置")] = 0,
    relocated: Annotated[
        int | None, typer.Option(help="紧急转移安置 (checked = 集中 + 分散)")
    ] = None,
    returned: Annotated[int, typer.Option(help="已返回")] = 0,
    shelters: Annotated[int, typer.Option(help="开放避难场所")] = 0,
    sheltered: Annotated[int, typer.Option(help="避难场所在住")] = 0,
    corrects: Annotated[str | None, typer.Option(help="report id this corrects")] = None,
    reason: Annotated[str | None, typer.Option(help="why (for a correction)")] = None,
) -> None:
    """Report a unit's cumulative figures; a later report supersedes, a duplicate is ignored."""
    from models.common import CHINA_TZ
    from models.typhoon import Figures, UnitReport
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    when = datetime.now(CHINA_TZ)
    if as_of:
        try:
            when = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise typer.BadParameter(f"'{as_of}' is not an ISO time", param_hint="--as-of") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=CHINA_TZ)

    async def job(settings: Settings) -> Any:
        data = UnitReport(
            event_id=event_id,
            report_id=report_id,
            unit=unit,
            as_of=when,
            reported_by=by,
            corrects=corrects,
            reason=reason,
            figures=Figures(
                pre_evacuated=pre,
                centralized=centralized,
                dispersed=dispersed,
                relocated=centralized + dispersed if relocated is None else relocated,
                returned=returned,
                shelters_open=shelters,
                sheltered_now=sheltered,
            ),
        )
        return await with_engine(settings, lambda engine: typhoons.submit_report(engine, data))

    receipt = run(job, f"typhoon {event_id}")
    out.print(f"{receipt.report_id}: {receipt.message}", highlight=False)


@typhoon_app.command("close")
def typhoon_close(
    event: Event,
    by: Annotated[str, typer.Option()],
    note: str = "",
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Close the event (the warning must be lifted): the totals become final."""
    from models.typhoon import CloseTyphoon
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    rid = request_id(request)

    async def job(settings: Settings) -> TyphoonBoard:
        data = expecting(CloseTyphoon(by=by, note=note), expect_stage)
        call = typhoons.close(await client_for(settings), event_id, data, update_id=rid)
        wid = typhoons.typhoon_workflow_id(event_id)
        return await send_once(settings, rid, wid, "close", data, call)

    finish(run(job, f"typhoon {event_id}"), as_json)


@typhoon_app.command("show")
def typhoon_show(
    event: Event,
    units: Annotated[str | None, typer.Option(help="list the 村居 of this 街镇")] = None,
    season: Annotated[bool, typer.Option(help="also the year's typhoons in the district")] = False,
    as_json: Json = False,
) -> None:
    """The live board: each 街镇, the district total, the peak; optionally units and season."""
    from rich.table import Table

    from yingji.services import typhoon as typhoons
    from yingji.stores.typhoon import unit_figures

    event_id = _event_id(event)

    async def job(settings: Settings) -> tuple[TyphoonBoard, list, list]:
        board = await typhoons.board(await client_for(settings), event_id)
        unit_rows: list = []
        season_rows: list = []
        if units or season:

            async def extra(engine: Any) -> tuple[list, list]:
                u = await unit_figures(engine, event_id, units) if units else []
                s = await typhoons.season(engine, board.year, board.district) if season else []
                return u, s

            unit_rows, season_rows = await with_engine(settings, extra)
        return board, unit_rows, season_rows

    board, unit_rows, season_rows = run(job, f"typhoon {event_id}")
    if as_json:
        out.print_json(
            json.dumps(
                {"board": board.model_dump(mode="json"), "units": unit_rows, "season": season_rows},
                ensure_ascii=False,
                default=str,
            )
        )
        return
    print_board(board)
    if unit_rows:
        table = Table(title=f"{units} 村居", title_justify="left")
        for col in ("unit", "as of", "紧急转移安置", "集中", "分散", "report"):
            table.add_column(col)
        for r in unit_rows:
            table.add_row(
                r["unit_code"],
                str(r["as_of"] or "未报"),
                str(r["relocated"] or 0),
                str(r["centralized"] or 0),
                str(r["dispersed"] or 0),
                r["report_id"] or "",
            )
        out.print(table)
    if season_rows:
        total = sum(r["relocated"] for r in season_rows)
        names = "、".join(f"「{r['name']}」{r['relocated']:,}" for r in season_rows)
        out.print(
            f"  {board.year}年 {board.district} 台风季累计紧急转移安置 {total:,} 人（{names}）",
            highlight=False,
        )
