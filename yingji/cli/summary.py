"""``yingji summary``: the year-end section of the annual report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from yingji.cli.common import (
    TYPER,
    CliError,
    Json,
    RequestId,
    client_for,
    emit,
    out,
    parse_date,
    request_id,
    run,
    when,
    with_engine,
    write_file,
)

if TYPE_CHECKING:
    from models.summary import SummaryDocument
    from yingji.core.settings import Settings

summary_app = typer.Typer(**TYPER, no_args_is_help=True)

Year = Annotated[int, typer.Option(help="the year summarised")]


def _print(doc: SummaryDocument) -> None:
    out.print(
        f"v{doc.version} {when(doc.created_at)}  sha256 {doc.content_hash[:12]}",
        highlight=False,
    )
    out.print(doc.markdown, highlight=False, markup=False)


@summary_app.command("run")
def summary_run(
    year: Annotated[list[int], typer.Option(help="year(s) to summarise; repeat to backfill")],
    by: Annotated[str, typer.Option(help="who asks")] = "值班员",
    as_of: Annotated[
        str | None,
        typer.Option(
            help="count up to this day, YYYY-MM-DD (default 31 December): the text says "
            "截至10月底 or 截至11月9日; one --year only"
        ),
    ] = None,
    request: RequestId = None,
    as_json: Json = False,
) -> None:
    """Run the summary now for one year, or several (backfill). Each run makes a new version;
    the same command repeated with its --request-id answers the runs it made."""
    from yingji.services import summary as summaries

    day = parse_date(as_of, "as-of")
    if day is not None and (len(year) != 1 or day.year != year[0]):
        raise typer.BadParameter(
            f"{day.isoformat()} is not in the one --year summarised", param_hint="--as-of"
        )
    rid = request_id(request)

    async def job(settings: Settings) -> list[SummaryDocument]:
        client = await client_for(settings)
        return [
            await summaries.run_summary(
                client,
                settings,
                y,
                by,
                request_id=f"{rid}:{y}" + (f":{day.isoformat()}" if day else ""),
                as_of=day,
            )
            for y in sorted(year)
        ]

    emit(run(job, f"summary {year}"), as_json, lambda docs: [_print(d) for d in docs])


async def _latest(settings: Settings, year: int) -> SummaryDocument:
    from yingji.services import summary as summaries

    doc = await with_engine(settings, lambda engine: summaries.latest(engine, settings, year))
    if doc is None:
        raise CliError(f"year: no summary for {year} yet; run `yingji summary run --year {year}`")
    return doc


@summary_app.command("show")
def summary_show(year: Year, as_json: Json = False) -> None:
    """The latest stored version for a year."""
    emit(run(lambda settings: _latest(settings, year)), as_json, _print)


@summary_app.command("export")
def summary_export(
    year: Year,
    fmt: Annotated[
        str, typer.Option("--format", help="md | json | docx | pdf (pdf: with LibreOffice)")
    ] = "md",
    output: Annotated[
        Path | None, typer.Option(help="file to write; default stdout (md/json)")
    ] = None,
    as_json: Json = False,
) -> None:
    """Export the latest version as Markdown, structured JSON, a Word document (A4, in the
    layout of a Chinese official document) or a PDF of it (rendered by LibreOffice)."""
    from yingji.services import summary as summaries

    if fmt not in summaries.FORMATS:
        raise typer.BadParameter(f"'{fmt}' is not md, json, docx or pdf", param_hint="--format")
    if fmt in ("docx", "pdf") and output is None:
        raise typer.BadParameter(f"a .{fmt} needs --output", param_hint="--output")
    document = run(lambda settings: _latest(settings, year))
    try:
        data = summaries.export(document, fmt)
    except summaries.ExportUnavailable as exc:
        raise CliError(str(exc)) from exc
    if output is None:
        if as_json and fmt != "json":
            emit({"year": year, "format": fmt, "text": data.decode()}, True)
        else:
            out.print(data.decode(), highlight=False, markup=False)
        return
    write_file(output, data)
    emit(
        {"year": year, "format": fmt, "output": str(output), "bytes": len(data)},
        as_json,
        lambda v: out.print(f"wrote {v['output']} ({v['bytes']:,} bytes)"),
    )
