"""``yingji serve``: the embedded stack (when not configured otherwise) plus the worker.

Ctrl-C (or SIGTERM) stops the worker gracefully, then what this process started, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn
from rich.console import Console

from worker import run_worker, stop_on_signals
from yingji.core.embedded import (
    EmbeddedInfo,
    TemporalDevServer,
    claim_data_dir,
    clear_info,
    release_data_dir,
    start_postgres,
    write_info,
)
from yingji.core.logging import configure_logging, get_logger
from yingji.core.settings import Settings
from yingji.core.temporal import temporal_address


def _console(settings: Settings, database_url: str) -> uvicorn.Server:
    from yingji.console.app import create_app

    app = create_app(settings, database_url=database_url)
    config = uvicorn.Config(
        app,
        host=settings.console_host,
        port=settings.console_port,
        log_config=None,
        lifespan="on",
        # uvicorn's access log writes the whole URL, query included (a token sent as ?token=
        # would be kept); the console logs each request by its route template instead.
        access_log=False,
    )
    server = uvicorn.Server(config)
    # Our SIGINT/SIGTERM handlers stop everything in order; uvicorn must not take them over.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    return server


async def console_only(settings: Settings) -> None:
    """The console on its own (``yingji console``): as many as needed, beside the workers."""
    from yingji.cli.common import database_url

    configure_logging(settings)
    settings.require_bureau_in_production()
    if settings.console_host and _port_in_use(settings.console_host, settings.console_port):
        raise SystemExit(
            f"error: {settings.console_host}:{settings.console_port} is already in use; "
            "set YINGJI_CONSOLE_PORT to a free port"
        )
    stop = stop_on_signals()
    web = _console(settings, database_url(settings))
    task = asyncio.create_task(web.serve())
    await asyncio.wait(
        [task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
    )
    web.should_exit = True
    await task


def _redact_url(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user, _, password = creds.partition(":")
    return f"{scheme}://{user}:***@{host}" if password else f"{scheme}://{user}@{host}"


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(settings: Settings) -> None:
    """Refuse to start, naming the setting, when a port we would listen on is taken."""
    wanted = []
    if settings.embedded_temporal:
        wanted += [
            (
                "YINGJI_EMBEDDED_TEMPORAL_PORT",
                settings.embedded_temporal_ip,
                settings.embedded_temporal_port,
            ),
            (
                "YINGJI_EMBEDDED_TEMPORAL_UI_PORT",
                settings.embedded_temporal_ip,
                settings.embedded_temporal_ui_port,
            ),
        ]
    if settings.console_enabled:
        wanted.append(("YINGJI_CONSOLE_PORT", settings.console_host, settings.console_port))
    for name, host, port in wanted:
        if _port_in_use(host, port):
            raise SystemExit(f"error: {host}:{port} is already in use; set {name} to a free port")


async def serve(settings: Settings, console: Console | None = None) -> None:
    console = console or Console(soft_wrap=True)
    settings.require_bureau_in_production()
    configure_logging(settings)
    log = get_logger("yingji.serve")
    # A previous serve killed without its clean-up left its servers running: they are ours (by
    # the data directory), so they are stopped or reused, never doubled; then the ports are free.
    cleared = claim_data_dir(settings)
    if cleared:
        log.warning("cleared what a previous serve left running", cleared=cleared)
    try:
        check_ports(settings)  # before anything starts, so nothing is left half-started
    except SystemExit:
        release_data_dir(settings)
        raise
    stop = stop_on_signals()

    pg = None
    temporal: TemporalDevServer | None = None
    info = EmbeddedInfo()
    try:
        if settings.embedded_database:
            pg = await asyncio.to_thread(start_postgres, settings)
            database_url = pg.get_uri()
            info.database_url = database_url
        else:
            assert settings.database_url is not None
            database_url = settings.database_url.get_secret_value()
        if settings.embedded_temporal:
            temporal = TemporalDevServer(settings)
            temporal.launch()
            await temporal.wait_ready()
            info.temporal_address, info.temporal_ui = temporal.address, temporal.ui
        write_info(settings, info)

        def announce() -> None:
            console.print("[bold]Yingji is up[/bold]")
            console.print(
                f"  Temporal     {temporal_address(settings)}"
                f"  namespace={settings.temporal_namespace}"
                f"  ({'embedded dev server' if temporal else 'configured'})"
            )
            if temporal:
                console.print(f"  Temporal UI  {temporal.ui}")
            console.print(
                f"  PostgreSQL   {_redact_url(database_url)}"
                f"  ({'embedded' if pg else 'configured'})"
            )
            console.print(f"  Task queue   {settings.temporal_task_queue}")
            if settings.missing_bureau:
                console.print(
                    "  Bureau       [yellow]not configured[/yellow]: set "
                    + ", ".join(settings.missing_bureau)
                    + " (production refuses to start without them)",
                    highlight=False,
                )
            else:
                console.print(
                    f"  Bureau       {settings.bureau_name} "
                    f"({settings.bureau_district}, {settings.bureau_level})",
                    highlight=False,
                )
            if settings.console_enabled:
                console.print(
                    f"  Console      http://{settings.console_host}:{settings.console_port}/"
                    f"  (the duty room; the API at /docs; tokens: `yingji token add`)"
                )
            if settings.worker_metrics_address:
                console.print(
                    f"  Metrics      http://{settings.worker_metrics_address}/metrics (worker)"
                    f", http://{settings.console_host}:{settings.console_port}/metrics"
                )
            console.print(f"  Data dir     {settings.data_dir.resolve()}")
            console.print("  Try          .venv/bin/yingji plan --help      (Ctrl-C stops)")

        web = _console(settings, database_url) if settings.console_enabled else None
        web_task = asyncio.create_task(web.serve()) if web else None
        try:
            await run_worker(settings, database_url, stop, on_ready=announce)
        finally:
            if web is not None and web_task is not None:
                web.should_exit = True
                await web_task
    finally:
        if temporal is not None:
            temporal.stop()
            log.info("embedded temporal stopped")
        if pg is not None:
            await asyncio.to_thread(pg.cleanup)
            log.info("embedded postgres released")
        clear_info(settings)
        release_data_dir(settings)
