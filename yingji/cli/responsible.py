"""``yingji responsible``: the register of responsible people (防汛防台责任人)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from yingji.cli.common import TYPER, CliError, District, Json, emit, out, run, with_engine

if TYPE_CHECKING:
    from models.responsible import Gap, ImportResult, ResponsiblePerson
    from yingji.core.settings import Settings

responsible_app = typer.Typer(**TYPER, no_args_is_help=True)


@responsible_app.command("import")
def responsible_import(
    file: Annotated[
        Path,
        typer.Argument(help="CSV: unit,role,name,phone,order (UTF-8 with or without BOM, or GBK)"),
    ],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="for the units in the file, delete the people not in the file"
        ),
    ] = False,
    district: Annotated[
        str | None,
        typer.Option(help="look the units up in this 区 only (default: every district)"),
    ] = None,
    as_json: Json = False,
) -> None:
    """Import responsible people (upsert by unit, role and phone); a file with any bad line is
    refused whole, nothing written.

    Every bad line is listed with its line number and field. Importing the same file again
    changes nothing; a changed name or order updates the person. With --replace, the file is
    the whole list of its units: their people missing from it are deleted.
    """
    from yingji.services import responsible as people

    try:
        size = file.stat().st_size
        if size > people.MAX_BYTES:
            raise typer.BadParameter(
                f"{file} has {size:,} bytes; at most {people.MAX_BYTES:,}", param_hint="FILE"
            )
        content = file.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from exc

    async def job(settings: Settings) -> ImportResult:
        try:
            parsed = people.read_csv(content)
            return await with_engine(
                settings, lambda engine: people.import_parsed(engine, parsed, replace, district)
            )
        except people.ResponsibleError as exc:
            if as_json:
                emit({"errors": exc.errors}, True)
            else:
                for e in exc.errors:
                    out.print(f"  {e}", highlight=False)
            raise CliError(f"{len(exc.errors)} problem(s) in {file}; nothing imported") from exc

    result = run(job)
    if as_json:
        emit(result, True)
        return
    deleted = f", {result.deleted} deleted" if replace else ""
    out.print(
        f"{result.created} person(s) created, {result.updated} updated, "
        f"{result.unchanged} unchanged{deleted}",
        highlight=False,
    )


@responsible_app.command("list")
def responsible_list(
    district: District = None,
    unit: Annotated[
        str | None, typer.Option(help="a unit's code or name: it and the units under it")
    ] = None,
    level: Annotated[
        str | None, typer.Option(help="city|district|town|village (市/区/街镇/村居)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The register, top down: by district, level, 街镇, unit, role and order."""
    from rich.table import Table

    from yingji.services import responsible as people

    async def job(settings: Settings) -> tuple[str | None, list[ResponsiblePerson]]:
        where = district or settings.bureau_district  # unset: every district
        return where, await with_engine(
            settings, lambda engine: people.list_people(engine, where, unit, level)
        )

    where, found = run(job)
    if as_json:
        emit(found, True)
        return
    table = Table(title=f"{where or ''} 防汛防台责任人 ({len(found)})", title_justify="left")
    for col in ("unit", "level", "街镇", "role", "order", "name", "phone"):
        table.add_column(col)
    for p in found:
        table.add_row(
            f"{p.unit_code} {p.unit_name}",
            p.level,
            p.town_name or "",
            p.role,
            str(p.order),
            p.name,
            p.phone,
        )
    out.print(table)


@responsible_app.command("gaps")
def responsible_gaps(
    district: District = None,
    level: Annotated[
        str | None, typer.Option(help="town|village (街镇/村居); default: both")
    ] = None,
    as_json: Json = False,
) -> None:
    """Units with nobody to call first: no responsible person of order 1."""
    from rich.table import Table

    from yingji.services import responsible as people

    async def job(settings: Settings) -> tuple[str, list[Gap]]:
        where = district or settings.district

        async def both(engine) -> list[Gap]:  # type: ignore[no-untyped-def]
            found: list[Gap] = []
            for lv in [level] if level else ["town", "village"]:
                found += await people.gaps(engine, where, lv)
            return found

        return where, await with_engine(settings, both)

    where, found = run(job)
    if as_json:
        emit({"district": where, "gaps": found}, True)
        return
    table = Table(title=f"{where} 责任人空缺 ({len(found)})", title_justify="left")
    for col in ("unit", "level", "街镇", "missing"):
        table.add_column(col)
    for g in found:
        what = "no one 无责任人" if g.people == 0 else f"no order 1 (backups only: {g.people})"
        table.add_row(f"{g.unit_code} {g.unit_name}", g.level, g.town_name or "", what)
    out.print(table)
