"""``yingji``: the duty officers' command line (Typer + rich)."""

from __future__ import annotations

import asyncio

import typer

from yingji.cli.disaster import disaster_app
from yingji.cli.drill import drill_app
from yingji.cli.load import load_command
from yingji.cli.officer import officer_app, warning_app
from yingji.cli.plan import plan_app
from yingji.cli.summary import summary_app
from yingji.cli.typhoon import typhoon_app
from yingji.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="Yingji (应急): durable workflows for the bureau.")
app.add_typer(plan_app, name="plan")
app.add_typer(drill_app, name="drill")
app.add_typer(typhoon_app, name="typhoon")
app.add_typer(officer_app, name="officer")
app.add_typer(warning_app, name="warning")
app.add_typer(disaster_app, name="disaster")
app.add_typer(summary_app, name="summary")
app.command("load")(load_command)


@app.command("serve")
def serve_command() -> None:
    """Start the embedded stack (unless configured otherwise) and the worker."""
    from yingji.serve import serve

    asyncio.run(serve(get_settings()))


def main() -> None:
    app()
