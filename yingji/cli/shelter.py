"""``yingji shelter``: the register of shelters (应急避难场所)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from yingji.cli.common import TYPER, CliError, District, Json, emit, out, run, with_engine

if TYPE_CHECKING:
    from models.shelter import ShelterImportResult, ShelterView
    from yingji.core.settings import Settings

shelter_app = typer.Typer(**TYPER, no_args_is_help=True)


@shelter_app.command("import")
def shelter_import(
    file: Annotated[
        Path,
        typer.Argument(help="CSV: code,name,unit,type,capacity,address (UTF-8 or GBK)"),
    ],
    district: District = None,
    as_json: Json = False,
) -> None:
    """Import shelters (upsert by code); a file with any bad line is refused whole.

    ``unit`` is a registered 街镇 or 村居 (its code, or its name in the district). Importing the
    same file again changes nothing; a changed line updates its shelter.
    """
    from models.shelter import SHELTER_FILE_MAX
    from yingji.services import shelter as shelters

    try:
        if file.stat().st_size > SHELTER_FILE_MAX:
            raise typer.BadParameter(f"{file} is larger than {SHELTER_FILE_MAX:,} bytes")
        content = file.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from exc

    async def job(settings: Settings) -> ShelterImportResult:
        where = district or settings.bureau_district
        try:
            return await with_engine(
                settings, lambda engine: shelters.import_csv(engine, content, where)
            )
        except shelters.ShelterError as exc:
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
            f"{r.created} shelter(s) created, {r.updated} updated, {r.unchanged} unchanged",
            highlight=False,
        ),
    )


@shelter_app.command("list")
def shelter_list(
    district: District = None,
    unit: Annotated[str | None, typer.Option(help="a 街镇 (and its 村居) or a 村居")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The register: each shelter, its unit, type and capacity."""
    from rich.table import Table

    from yingji.services import shelter as shelters

    async def job(settings: Settings) -> list[ShelterView]:
        where = district or settings.bureau_district
        return await with_engine(
            settings, lambda engine: shelters.list_shelters(engine, where, unit)
        )

    found = run(job)
    if as_json:
        emit(found, True)
        return
    table = Table(
        title=f"应急避难场所 ({len(found)}, 容量 {sum(s.capacity for s in found):,})",
        title_justify="left",
    )
    for col in ("code", "name", "街镇", "unit", "type", "capacity", "address"):
        table.add_column(col, justify="right" if col == "capacity" else "left")
    for s in found:
        table.add_row(
            s.code, s.name, s.town_name, s.unit_name, s.type, f"{s.capacity:,}", s.address
        )
    out.print(table)
