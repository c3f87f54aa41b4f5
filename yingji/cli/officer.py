"""``yingji officer``: the roster of disaster information officers (灾害信息员)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from yingji.cli.common import (
    TYPER,
    District,
    Json,
    emit,
    out,
    parse_date,
    read_text,
    run,
    when,
    with_engine,
)

if TYPE_CHECKING:
    from yingji.core.settings import Settings
    from yingji.stores import officer as roster

officer_app = typer.Typer(**TYPER, no_args_is_help=True)

#: ``--as-of``: the roster keeps its history; list and gaps show it on one day.
AsOf = Annotated[
    str | None, typer.Option("--as-of", help="the roster on this day, YYYY-MM-DD; default today")
]


@officer_app.command("import")
def officer_import(
    file: Annotated[
        Path,
        typer.Argument(help="CSV: unit,role,name,phone[,email,active,valid_from,valid_to]"),
    ],
    as_json: Json = False,
) -> None:
    """Import the roster of the file's districts as of today (or the file's valid_from):
    officers not in it stop serving, a changed line closes the old row and opens a new one,
    an unchanged one stays. A file with any bad line is refused whole, nothing written."""
    from yingji.stores import officer as roster

    content = read_text(file, "FILE")  # UTF-8 (BOM) or GBK, as Excel writes it

    def refuse(errors: list[str]) -> None:
        if as_json:
            emit({"imported": 0, "errors": errors}, True)
            raise typer.Exit(2)
        for e in errors:
            out.print(f"  {e}", highlight=False)
        raise typer.BadParameter(f"{len(errors)} problem(s); nothing imported", param_hint="FILE")

    rows, _, problems = roster.parse_lines(content)
    if problems and not rows:  # nothing to look up in the register: no database needed
        refuse([e for _, e in problems])

    async def job(settings: Settings) -> int:
        return await with_engine(settings, lambda engine: roster.import_csv(engine, content))

    try:
        count = run(job, passing=(roster.RosterError,))
    except roster.RosterError as exc:
        refuse(exc.errors)
    emit(
        {"imported": count},
        as_json,
        lambda v: out.print(f"imported {v['imported']} officer line(s)"),
    )


@officer_app.command("list")
def officer_list(district: District = None, as_of: AsOf = None, as_json: Json = False) -> None:
    """The roster, by unit, as it stands today (or on --as-of)."""
    from yingji.stores import officer as roster

    day = parse_date(as_of, "as-of")

    async def job(settings: Settings) -> list[dict]:
        where = district or settings.bureau_district  # unset: every district
        return await with_engine(settings, lambda engine: roster.list_officers(engine, where, day))

    def render(found: list[dict]) -> None:
        from rich.table import Table

        on = f" {day}" if day else ""
        table = Table(title=f"灾害信息员{on} ({len(found)})", title_justify="left")
        for col in ("单位", "层级", "岗位", "姓名", "电话", "状态", "起始"):
            table.add_column(col)
        for r in found:
            table.add_row(
                r["unit_code"],
                r["level"],
                r["role"],
                r["name"],
                r["phone"],
                "在岗" if r["active"] else "[red]离岗[/red]",
                when(r["valid_from"]),
            )
        out.print(table)

    emit(run(job), as_json, render)


@officer_app.command("gaps")
def officer_gaps(district: District = None, as_of: AsOf = None, as_json: Json = False) -> None:
    """Units with no active officer (and units with only a backup), today or on --as-of."""
    from yingji.stores import officer as roster

    day = parse_date(as_of, "as-of")

    async def job(settings: Settings) -> tuple[str, list[roster.Gap]]:
        where = district or settings.district
        return where, await with_engine(settings, lambda engine: roster.gaps(engine, where, day))

    where, found = run(job)
    if as_json:
        emit({"district": where, "as_of": day, "gaps": [vars(g) for g in found]}, True)
        return
    from rich.table import Table

    on = f" {day}" if day else ""
    table = Table(title=f"{where} 灾害信息员空缺{on} ({len(found)})", title_justify="left")
    for col in ("单位", "层级", "缺"):
        table.add_column(col)
    for g in found:
        what = (
            "[red]无人在岗（A、B 岗均缺）[/red]" if g.missing == "A and B" else "缺 A 岗（仅 B 岗）"
        )
        table.add_row(g.unit_code, g.level, what)
    out.print(table)
