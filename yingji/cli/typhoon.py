"""``yingji typhoon``: typhoon evacuation tallies (台风 紧急转移安置), the response (levels, their
actions, instructions and feedback), shelters and their occupancy, reporting rounds. The same
commands serve 暴雨 and 寒潮 events (``open --hazard rainstorm``, keyed ``YEAR:CODE``)."""

from __future__ import annotations

from datetime import datetime
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
    request_id,
    run,
    send_once,
    when,
    with_engine,
)

if TYPE_CHECKING:
    from models.typhoon import (
        TyphoonBoard,
    )
    from yingji.core.settings import Settings

typhoon_app = typer.Typer(**TYPER, no_args_is_help=True)

Event = Annotated[
    str,
    typer.Argument(
        metavar="YEAR:NUMBER", help="e.g. 2024:13 (贝碧嘉); another hazard's YEAR:CODE, 2024:RS0721"
    ),
]


def _event_id(text: str) -> str:
    import re

    year, _, number = text.strip().partition(":")
    if year.isdigit() and number.isdigit():
        return f"{int(year)}:{int(number)}"
    if year.isdigit() and re.match(r"^[A-Za-z][A-Za-z0-9-]{0,10}$", number):
        return f"{int(year)}:{number}"
    raise typer.BadParameter(f"'{text}' is not YEAR:NUMBER (2024:13) nor YEAR:CODE (2024:RS0721)")


def _when(text: str | None, option: str) -> datetime | None:
    """An ISO time (China time when it names no zone), or None."""
    from models.common import CHINA_TZ

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"'{text}' is not an ISO time", param_hint=option) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=CHINA_TZ)


def print_board(b: TyphoonBoard) -> None:
    from rich.table import Table

    title = (
        f"{b.year}年第{b.number}号台风「{b.name}」"
        if b.number is not None
        else f"{b.year}年{b.name}（{b.hazard.label}，{b.code}）"
    )
    out.print(
        f"[bold]{title}[/bold] {b.district}  "
        f"({b.status.label})\n"
        f"  响应 {b.level.label}  {b.warning.label}   "
        f"batches applied {b.batches_applied}, reports {b.reports_applied}",
        highlight=False,
    )
    table = Table(title="转移安置 by 街镇", title_justify="left")
    for col in (
        "街镇",
        "紧急避险转移",
        "紧急转移安置",
        "集中",
        "分散",
        "返回",
        "在住(安置−返回)",
        "避难场所",
        "场所在住",
    ):
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
                    v.staying,
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
                d.staying,
                d.shelters_open,
                d.sheltered_now,
            )
        ),
    )
    out.print(table)
    peak = f" at {when(b.peak_at)}" if b.peak_at else ""
    out.print(
        f"  peak sheltered 峰值在住 {b.peak_sheltered:,}{peak}; units reported {d.units_reported}",
        highlight=False,
    )
    for record in b.levels:
        out.print(
            f"  {when(record.at)} {record.level.label} {record.warning.label} "
            f"({record.by}) {record.note}",
            highlight=False,
        )
    for a in b.actions:
        state = "已完成" if a.done else "待办"
        out.print(
            f"  响应措施 {a.level.label} {a.kind.label} {a.text} {a.ref} ({state})", highlight=False
        )
    for i in b.instructions:
        out.print(
            f"  指令 {i.id} {i.text}（{when(i.due_at)}前反馈）"
            f" 已反馈 {i.answered}/{i.towns}"
            + (f"；逾期未反馈：{'、'.join(i.overdue)}" if i.overdue else "")
            + (f"；迟报：{'、'.join(i.late)}" if i.late else ""),
            highlight=False,
        )
    if b.shelters:
        out.print(
            f"  避难场所 {len(b.shelters)} 个开放，在住 {b.shelter_occupancy:,} / 容量 "
            f"{b.shelter_capacity:,}",
            highlight=False,
        )
        for sh in b.shelters:
            flag = "  超容量" if sh.over_capacity else ""
            out.print(
                f"    {sh.name} ({sh.code}, {sh.town}) {sh.occupancy:,}/{sh.capacity:,}{flag}",
                highlight=False,
            )
    for m in b.mismatches:
        out.print(
            f"  核对不一致 {m.name or m.town}: 报送场所在住 {m.sheltered_now:,}，"
            f"避难场所报在住 {m.occupancy:,}",
            highlight=False,
        )
    for r in b.rounds[-3:]:
        missing = "、".join(f"{u.town}{u.name}" if u.town != u.name else u.name for u in r.missing)
        late = (
            f"，逾期 {r.missing[0].late_minutes} 分钟"
            if r.missing and r.missing[0].late_minutes
            else ""
        )
        out.print(
            f"  第{r.no}轮 ({when(r.due_at)}截止, {r.stage}) 已报 "
            f"{r.reported}/{r.units}"
            + (f"；未报 {r.missing_count}：{missing}{late}" if r.missing_count else ""),
            highlight=False,
        )


def finish(b: TyphoonBoard, as_json: bool) -> None:
    emit(b, as_json, print_board)


@typhoon_app.command("open")
def typhoon_open(
    event: Event,
    name: Annotated[str, typer.Option(help="台风名, e.g. 贝碧嘉")],
    hazard: Annotated[
        str, typer.Option(help="typhoon|rainstorm|cold_wave (台风/暴雨/寒潮)")
    ] = "typhoon",
    district: District = None,
    by: Annotated[str, typer.Option(help="值班员")] = "值班员",
    level: Annotated[str, typer.Option(help="IV|III|II|I|none or Ⅳ级…")] = "none",
    warning: Annotated[str, typer.Option(help="blue|yellow|orange|red|none")] = "none",
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """Open a typhoon (or a 暴雨/寒潮 event: --hazard, YEAR:CODE): its units may report from now
    on; the level's actions start."""
    from models.typhoon import Hazard, ResponseLevel, TyphoonOpen, WarningColour
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    year_text, key = event_id.split(":")
    year = int(year_text)
    number, code = (int(key), None) if key.isdigit() else (None, key)
    kind = parse(Hazard, hazard, "hazard")
    lvl, warn = parse(ResponseLevel, level, "level"), parse(WarningColour, warning, "warning")
    rid = request_id(request)

    async def job(settings: Settings) -> TyphoonBoard:
        data = TyphoonOpen(
            year=year,
            number=number,
            code=code,
            hazard=kind,
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
    as_json: Json = False,
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

    emit(
        run(job, f"typhoon {event_id}"),
        as_json,
        lambda r: out.print(f"{r.report_id}: {r.message}", highlight=False),
    )


@typhoon_app.command("close")
def typhoon_close(
    event: Event,
    by: Annotated[str, typer.Option()],
    note: str = "",
    as_json: Json = False,
    request: RequestId = None,
    expect_stage: ExpectStage = None,
) -> None:
    """Close the event (the response ended: level none, the warning lifted): the totals become
    final, its shelters close."""
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
                s = (
                    await typhoons.season(engine, board.year, board.district, board.hazard.value)
                    if season
                    else []
                )
                return u, s

            unit_rows, season_rows = await with_engine(settings, extra)
        return board, unit_rows, season_rows

    board, unit_rows, season_rows = run(job, f"typhoon {event_id}")
    if as_json:
        emit({"board": board, "units": unit_rows, "season": season_rows}, True)
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
            f"  {board.year}年 {board.district} {_season_word(board)}累计紧急转移安置 {total:,} 人"
            f"（{names}）",
            highlight=False,
        )


# -- the response ------------------------------------------------------------------------------


@typhoon_app.command("instruct")
def typhoon_instruct(
    event: Event,
    text: Annotated[str, typer.Option(help="the instruction to every 街镇")],
    due_minutes: Annotated[int, typer.Option(help="feedback due this many minutes later")],
    by: Annotated[str, typer.Option(help="区防指")],
    at: Annotated[str | None, typer.Option(help="when it was given (ISO), for the past")] = None,
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """An instruction (工作指令) to every 街镇; one without feedback by its deadline is overdue."""
    from models.typhoon import InstructionInput
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    rid = request_id(request)
    when = _when(at, "--at")

    async def job(settings: Settings) -> TyphoonBoard:
        data = InstructionInput(text=text, due_minutes=due_minutes, by=by, at=when)
        call = typhoons.instruct(await client_for(settings), event_id, data, update_id=rid)
        wid = typhoons.typhoon_workflow_id(event_id)
        return await send_once(settings, rid, wid, "instruct", data, call)

    finish(run(job, f"typhoon {event_id}"), as_json)


@typhoon_app.command("feedback")
def typhoon_feedback(
    event: Event,
    instruction: Annotated[str, typer.Option(help="e.g. I1")],
    town: Annotated[str, typer.Option(help="the 街镇: its code or name")],
    text: Annotated[str, typer.Option(help="反馈内容")],
    by: Annotated[str, typer.Option()],
    at: Annotated[str | None, typer.Option(help="when it came (ISO), for the past")] = None,
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """A 街镇's feedback on an instruction (late after its deadline)."""
    from models.typhoon import FeedbackInput
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    rid = request_id(request)
    when = _when(at, "--at")

    async def job(settings: Settings) -> TyphoonBoard:
        data = FeedbackInput(instruction=instruction, town=town, text=text, by=by, at=when)
        call = typhoons.feedback(await client_for(settings), event_id, data, update_id=rid)
        wid = typhoons.typhoon_workflow_id(event_id)
        return await send_once(settings, rid, wid, "feedback", data, call)

    finish(run(job, f"typhoon {event_id}"), as_json)


@typhoon_app.command("round")
def typhoon_round(
    event: Event,
    by: Annotated[str, typer.Option()],
    note: str = "",
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """Open a reporting round now (besides those every YINGJI_TYPHOON_ROUND_MINUTES)."""
    from models.typhoon import RoundInput
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    rid = request_id(request)

    async def job(settings: Settings) -> TyphoonBoard:
        data = RoundInput(by=by, note=note)
        call = typhoons.start_round(await client_for(settings), event_id, data, update_id=rid)
        wid = typhoons.typhoon_workflow_id(event_id)
        return await send_once(settings, rid, wid, "round", data, call)

    finish(run(job, f"typhoon {event_id}"), as_json)


@typhoon_app.command("rounds")
def typhoon_rounds(
    event: Event,
    number: Annotated[int | None, typer.Option("--round", help="default: the latest")] = None,
    as_json: Json = False,
) -> None:
    """A reporting round, live: each unit reported, late or 未报 (missing)."""
    from rich.table import Table

    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)

    async def job(settings: Settings) -> tuple[Any, list]:
        return await with_engine(
            settings, lambda engine: typhoons.round_units(engine, event_id, number)
        )

    found, units = run(job, f"typhoon {event_id}")
    if as_json:
        emit({"round": found, "units": units}, True)
        return
    if found is None:
        out.print("no round yet", highlight=False)
        return
    labels = {"reported": "已报", "late": "迟报", "missing": "未报"}
    missing = [u for u in units if u["status"] == "missing"]
    out.print(
        f"第{found['round_no']}轮  截止 {when(found['due_at'])}  "
        f"已报 {len(units) - len(missing)}/{len(units)}  未报 {len(missing)}",
        highlight=False,
    )
    table = Table(title_justify="left")
    for col in ("街镇", "unit", "status"):
        table.add_column(col)
    for u in sorted(units, key=lambda u: (u["status"] != "missing", u["town_code"])):
        table.add_row(u["town_name"], f"{u['name']} ({u['unit_code']})", labels[u["status"]])
    out.print(table)


ShelterNames = Annotated[
    list[str], typer.Option("--shelter", help="a shelter's code or name (repeat for more)")
]


def _shelters(event: str, names: list[str], by: str, note: str, close: bool, request: Any) -> Any:
    from models.typhoon import ShelterChange
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    rid = request_id(request)

    async def job(settings: Settings) -> TyphoonBoard:
        data = ShelterChange(shelters=names, by=by, note=note)
        client = await client_for(settings)
        wid = typhoons.typhoon_workflow_id(event_id)

        async def send(engine: Any) -> TyphoonBoard:
            coded = await typhoons.shelter_codes(engine, event_id, data)
            if close:
                call = typhoons.close_shelters(client, engine, event_id, coded, update_id=rid)
            else:
                call = typhoons.open_shelters(client, engine, event_id, coded, update_id=rid)
            from yingji.services.requests import once

            action = "shelters-close" if close else "shelters-open"
            wait = settings.request_wait_seconds
            return await once(engine, rid, wid, action, coded, call, wait)

        return await with_engine(settings, send)

    return run(job, f"typhoon {event_id}")


@typhoon_app.command("shelter-open")
def typhoon_shelter_open(
    event: Event,
    shelter: ShelterNames,
    by: Annotated[str, typer.Option()],
    note: str = "",
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """Open registered shelters (应急避难场所) for this event."""
    finish(_shelters(event, shelter, by, note, False, request), as_json)


@typhoon_app.command("shelter-close")
def typhoon_shelter_close(
    event: Event,
    shelter: ShelterNames,
    by: Annotated[str, typer.Option()],
    note: str = "",
    as_json: Json = False,
    request: RequestId = None,
) -> None:
    """Close shelters of this event: they report no more."""
    finish(_shelters(event, shelter, by, note, True, request), as_json)


@typhoon_app.command("occupancy")
def typhoon_occupancy(
    event: Event,
    shelter: Annotated[str, typer.Option(help="its code or name")],
    report_id: Annotated[str, typer.Option(help="idempotency key of this report")],
    occupancy: Annotated[int, typer.Option(help="在住人数 now")],
    by: Annotated[str, typer.Option(help="报送人")],
    as_of: Annotated[str | None, typer.Option(help="as of (ISO, CST if no zone)")] = None,
    corrects: Annotated[str | None, typer.Option(help="report id this corrects")] = None,
    reason: Annotated[str | None, typer.Option(help="why (for a correction)")] = None,
    as_json: Json = False,
) -> None:
    """Report how many people a shelter holds now; a later report supersedes."""
    from models.common import CHINA_TZ
    from models.typhoon import OccupancyReport
    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)
    when = _when(as_of, "--as-of") or datetime.now(CHINA_TZ)

    async def job(settings: Settings) -> Any:
        data = OccupancyReport(
            event_id=event_id,
            report_id=report_id,
            shelter=shelter,
            as_of=when,
            occupancy=occupancy,
            reported_by=by,
            corrects=corrects,
            reason=reason,
        )
        return await with_engine(settings, lambda engine: typhoons.submit_occupancy(engine, data))

    emit(
        run(job, f"typhoon {event_id}"),
        as_json,
        lambda r: out.print(f"{r.report_id}: {r.message}", highlight=False),
    )


@typhoon_app.command("shelters")
def typhoon_shelters(event: Event, as_json: Json = False) -> None:
    """Every shelter the event opened: capacity, latest occupancy, opened and closed."""
    from rich.table import Table

    from yingji.services import typhoon as typhoons

    event_id = _event_id(event)

    async def job(settings: Settings) -> list:
        return await with_engine(settings, lambda engine: typhoons.event_shelters(engine, event_id))

    found = run(job, f"typhoon {event_id}")
    if as_json:
        emit(found, True)
        return
    table = Table(title=f"{event_id} 避难场所", title_justify="left")
    for col in ("code", "name", "街镇", "在住", "容量", "as of", "closed"):
        table.add_column(col)
    for r in found:
        table.add_row(
            r["code"],
            r["name"] or "",
            r["town_name"] or r["town_code"],
            f"{r['occupancy']:,}",
            f"{r['capacity']:,}",
            str(r["as_of"] or ""),
            when(r["closed_at"]),
        )
    out.print(table)


@typhoon_app.command("list")
def typhoon_list(
    district: District = None,
    live: Annotated[bool, typer.Option("--live", help="only those still open")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Json = False,
) -> None:
    """The district's typhoons and other events (暴雨, 寒潮), newest first: level, warning,
    紧急转移安置, open or closed."""
    from yingji.services import typhoon as typhoons

    async def job(settings: Settings) -> list[dict[str, Any]]:
        where = district or settings.district
        return await with_engine(settings, lambda e: typhoons.listed(e, where, live, limit))

    def render(found: list[dict[str, Any]]) -> None:
        from rich.table import Table

        from models.typhoon import Hazard, ResponseLevel, WarningColour

        table = Table(title=f"台风及其他灾害过程 ({len(found)})", title_justify="left")
        for col in ("编号", "名称", "灾种", "响应", "预警", "开始", "紧急转移安置", "状态"):
            table.add_column(col)
        for e in found:
            table.add_row(
                e["event_id"],
                e["name"],
                Hazard(e["hazard"]).label,
                ResponseLevel(e["level"]).label,
                WarningColour(e["warning"]).label,
                when(e["opened_at"]),
                f"{e['relocated']:,}",
                "已结束" if e["status"] == "closed" else "进行中",
            )
        out.print(table)

    emit(run(job), as_json, render)


def _season_word(board: Any) -> str:
    """台风季 for typhoons; the hazard's own word (暴雨, 寒潮) for other events."""
    from models.typhoon import Hazard

    hazard = Hazard(getattr(board, "hazard", None) or "typhoon")
    return "台风季" if hazard is Hazard.TYPHOON else f"本年{hazard.label}过程"
