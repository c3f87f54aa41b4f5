"""``yingji``: the duty officers' command line (Typer + rich).

Each command group lives in its own module (``yingji/cli/<kind>.py``) and is imported only when
it is used: ``yingji plan list`` builds the plan group and nothing else, so a command answers
at once. The groups' one-line help is kept here so that ``yingji --help`` imports none of them.
"""

from __future__ import annotations

import importlib

import click
import typer
from typer.core import TyperGroup

from yingji.cli.common import TYPER
from yingji.cli.load import load_command

#: Command group → (module, Typer app attribute, one-line help).
GROUPS: dict[str, tuple[str, str, str]] = {
    "plan": ("yingji.cli.plan", "plan_app", "Emergency plans (应急预案)."),
    "drill": ("yingji.cli.drill", "drill_app", "Drills (应急演练) and drill programmes."),
    "typhoon": ("yingji.cli.typhoon", "typhoon_app", "Typhoon evacuation tallies (台风转移安置)."),
    "officer": ("yingji.cli.officer", "officer_app", "Disaster information officers (灾害信息员)."),
    "warning": ("yingji.cli.warning", "warning_app", "叫应: call each responsible person."),
    "disaster": ("yingji.cli.disaster", "disaster_app", "Disaster reports (灾情报告)."),
    "summary": ("yingji.cli.summary", "summary_app", "Year-end summaries (年度总结)."),
    "unit": ("yingji.cli.unit", "unit_app", "Administrative units (行政区划: 市/区/街镇/村居)."),
    "shelter": ("yingji.cli.shelter", "shelter_app", "Shelters (应急避难场所): the register."),
    "responsible": (
        "yingji.cli.responsible",
        "responsible_app",
        "Responsible people (防汛防台责任人): whom 叫应 calls, in order.",
    ),
    "token": (
        "yingji.cli.token",
        "token_app",
        "Console tokens (访问令牌): who may use the console.",
    ),
}


def load_group(name: str) -> click.Command:
    module, attribute, _ = GROUPS[name]
    group = typer.main.get_command(getattr(importlib.import_module(module), attribute))
    group.name, group.help = name, GROUPS[name][2]
    return group


class LazyGroups(TyperGroup):
    """The root command: builds a group only when it is called."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*GROUPS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in GROUPS:
            return load_group(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in GROUPS.items()]
        for name in super().list_commands(ctx):
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    **TYPER,
    cls=LazyGroups,
    no_args_is_help=True,
    help="Yingji (应急): durable workflows for the bureau.",
)


app.command("load")(load_command)


@app.command("serve")
def serve_command() -> None:
    """Start the embedded stack (unless configured otherwise) and the worker."""
    import asyncio

    from yingji.cli.common import load_settings
    from yingji.serve import serve

    asyncio.run(serve(load_settings()))


@app.command("worker")
def worker_command() -> None:
    """A worker alone, as many as needed. SIGTERM, SIGINT or SIGHUP stops it gracefully;
    it needs YINGJI_TEMPORAL_ADDRESS and YINGJI_DATABASE_URL."""
    import asyncio

    from worker import main as run
    from yingji.cli.common import load_settings

    asyncio.run(run(load_settings()))


@app.command("console")
def console_command() -> None:
    """The console alone (HTTP API and the duty-room page), beside the workers."""
    import asyncio

    from yingji.cli.common import load_settings
    from yingji.serve import console_only

    asyncio.run(console_only(load_settings()))


def main() -> None:
    """The ``yingji`` command. It leaves with ``os._exit`` once the command is done (its own
    clean-up already ran): the Temporal client's threads could otherwise call into Python
    while the interpreter finalizes, which aborted a refused command with exit 134 ("Fatal
    Python error: PyGILState_Release") about one time in five."""
    import os
    import sys

    code: int = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
