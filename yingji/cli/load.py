"""``yingji load FILE``: replay a scenario (a past year) through the same entry points."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from yingji.cli.common import Json, client_for, emit, fail, out, run, with_engine

if TYPE_CHECKING:
    from yingji import loader as scenario
    from yingji.core.settings import Settings


def load_command(
    file: Annotated[
        Path, typer.Argument(help="scenario YAML, e.g. examples/jiading-2022-meihua.yaml")
    ],
    check: Annotated[bool, typer.Option("--check", help="only check the file")] = False,
    as_json: Json = False,
) -> None:
    """Load a scenario file (plans, drills, typhoons, warnings, disasters). Loading twice
    changes nothing; a file with any bad field is refused whole."""
    from rich.table import Table

    from yingji import loader as scenario

    try:
        data = scenario.read(file)
    except scenario.ScenarioError as exc:
        if as_json:
            emit({"file": str(file), "loaded": False, "errors": exc.errors}, True)
            raise typer.Exit(1) from exc
        fail(f"{file} refused, nothing loaded:\n" + "\n".join(f"  {e}" for e in exc.errors))
        raise AssertionError("unreachable") from exc

    async def job(settings: Settings) -> scenario.LoadReport | None:
        if check:
            return None
        client = await client_for(settings)
        return await with_engine(
            settings, lambda engine: scenario.load(client, engine, settings, data)
        )

    result = run(job, f"scenario {data.scenario}")
    if as_json:
        emit({"file": str(file), "scenario": data.scenario, "valid": True, "report": result}, True)
        return
    if result is None:
        out.print(f"{file}: scenario {data.scenario} is valid")
        return
    table = Table(title=f"loaded {data.scenario}")
    table.add_column("kind")
    table.add_column("new", justify="right")
    table.add_column("already there", justify="right")
    for kind in ("plans", "drills", "typhoons", "warnings", "disasters"):
        new, old = result.created.get(kind, 0), result.existing.get(kind, 0)
        if new or old:
            table.add_row(kind, str(new), str(old))
    out.print(table)
    reports = ", ".join(f"{k} {v}" for k, v in sorted(result.reports.items()))
    out.print(
        f"steps sent {result.steps_sent}" + (f"; typhoon reports: {reports}" if reports else "")
    )
