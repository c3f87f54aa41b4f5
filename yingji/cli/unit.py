"""``yingji unit``: the register of administrative units (行政区划: 市/区/街镇/村居)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from yingji.cli.common import TYPER, CliError, Json, emit, out, run, with_engine

if TYPE_CHECKING:
    from models.unit import UnitImportResult, UnitView
    from yingji.core.settings import Settings

unit_app = typer.Typer(**TYPER, no_args_is_help=True)

LEVELS = "city|district|town|village (市/区/街镇/村居)"


@unit_app.command("import")
def unit_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: code,name,level,parent_code,district (UTF-8 with or without BOM, or GBK)"
        ),
    ],
    as_json: Json = False,
) -> None:
    """Import units (upsert by code); a file with any bad line is refused whole, nothing written.

    Every bad line is listed with its line number and field. Importing the same file again
    changes nothing; a changed name for an existing code updates it.
    """
    from yingji.services import unit as units

    try:
        size = file.stat().st_size
        if size > units.MAX_BYTES:
            raise typer.BadParameter(
                f"{file} has {size:,} bytes; at most {units.MAX_BYTES:,}", param_hint="FILE"
            )
        content = file.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from exc

    async def job(settings: Settings) -> UnitImportResult:
        try:
            parsed = units.read_csv(content)
            return await with_engine(settings, lambda engine: units.import_parsed(engine, parsed))
        except units.UnitError as exc:
            if as_json:
                emit({"errors": exc.errors}, True)
            else:
                for e in exc.errors:
                    out.print(f"  {e}", highlight=False)
            raise CliError(f"{len(exc.errors)} problem(s) in {file}; nothing imported") from exc

    emit(
        run(job),
        as_json,
        lambda r: out.print(
            f"{r.created} unit(s) created, {r.updated} updated, {r.unchanged} unchanged",
            highlight=False,
        ),
    )


@unit_app.command("list")
def unit_list(
    district: Annotated[str | None, typer.Option(help="区, e.g. 某某区")] = None,
    level: Annotated[str | None, typer.Option(help=LEVELS)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The register, top down: by district, level and parent."""
    from rich.table import Table

    from models.unit import parse_level
    from yingji.services import unit as units

    wanted = None
    if level is not None:
        try:
            wanted = parse_level(level).value
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--level") from exc

    async def job(settings: Settings) -> list[UnitView]:
        return await with_engine(
            settings, lambda engine: units.list_units(engine, district, wanted)
        )

    found = run(job)
    if as_json:
        emit(found, True)
        return
    title = f"{district or '行政区划'} ({len(found)})"
    table = Table(title=title, title_justify="left")
    for col in ("code", "name", "level", "parent", "district"):
        table.add_column(col)
    for u in found:
        parent = f"{u.parent_code} {u.parent_name or ''}".strip() if u.parent_code else ""
        table.add_row(u.code, u.name, u.level_label, parent, u.district)
    out.print(table)
