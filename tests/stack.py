"""A stack of its own for one run: a new database in the session's PostgreSQL cluster and a new
Temporal dev server, so two runs of the same scenario (say, one with faults and one without) can
be compared row by row without meeting each other's business keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import make_settings, venv_binary
from yingji import loader as scenario
from yingji.core.db import make_engine, migrate, upgrade
from yingji.core.search import ensure_search_attributes
from yingji.core.settings import Settings

ROOT = Path(__file__).parent.parent
MEIHUA = ROOT / "examples" / "jiading-2022-meihua.yaml"


@dataclass
class Stack:
    client: Client
    engine: AsyncEngine
    database_url: str
    settings: Settings
    task_queue: str
    started: datetime


async def new_database(database_url: str) -> str:
    """Create an empty, migrated database next to ``database_url``; returns its URL."""
    name = f"run_{uuid.uuid4().hex[:10]}"
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    await migrate(url)
    return url


@asynccontextmanager
async def scratch_database(database_url: str, revision: str | None) -> AsyncIterator[str]:
    """A new database beside ``database_url``, migrated to ``revision`` (None: left empty),
    dropped afterwards; yields its URL."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        if revision is not None:
            await asyncio.to_thread(upgrade, url, revision)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@asynccontextmanager
async def fresh_stack(database_url: str, **temporal_args: Any) -> AsyncIterator[Stack]:
    url = await new_database(database_url)
    engine = make_engine(url)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        **temporal_args,
    )
    await ensure_search_attributes(env.client, "default")
    queue = f"stack-{uuid.uuid4().hex[:8]}"
    settings = make_settings(
        temporal_address=env.client.service_client.config.target_host,
        temporal_task_queue=queue,
        database_url=url,
    )
    try:
        yield Stack(env.client, engine, url, settings, queue, datetime.now(UTC))
    finally:
        await env.shutdown()
        await engine.dispose()


async def load_file(
    stack: Stack, path: Path = MEIHUA, progress: scenario.Progress | None = None
) -> scenario.LoadReport:
    return await scenario.load(
        stack.client, stack.engine, stack.settings, scenario.read(path), progress=progress
    )


# -- what two runs must agree on ---------------------------------------------------------------

#: Columns and keys whose value depends on how the run was timed, not on what happened: how
#: typhoon reports were grouped into apply batches, and the event numbers those batches take.
TIMING = {"batch", "batches_applied", "applied_batch"}
#: Identities Temporal draws at random for each run.
RANDOM = {"run_id", "run_key", "first_execution_run_id"}
#: Per table, further columns that are timing: the typhoon log's numbering follows its batches.
TIMING_COLUMNS = {"typhoon_log": {"seq"}, "typhoon_event": {"last_seq"}}
TIMING_TABLES = {"alembic_version"}


def normalised(value: Any, started: datetime) -> Any:
    """Times at or after the run's start are when the run processed something: not compared."""
    if isinstance(value, datetime):
        return "<run time>" if value >= started else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo is not None and parsed >= started:
            return "<run time>"
        return value
    if isinstance(value, dict):
        return {
            k: normalised(v, started) for k, v in sorted(value.items()) if k not in TIMING | RANDOM
        }
    if isinstance(value, list):
        return [normalised(v, started) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


async def database_state(engine: AsyncEngine, started: datetime) -> dict[str, list[Any]]:
    """Every row of every table, timing-dependent parts normalised, in a stable order."""
    state: dict[str, list[Any]] = {}
    async with engine.connect() as conn:
        tables = (
            await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            )
        ).scalars()
        for table in tables:
            if table in TIMING_TABLES:
                continue
            result = await conn.execute(text(f'SELECT * FROM "{table}"'))
            rows_in = [dict(r) for r in result.mappings()]
            if table == "typhoon_report":
                # ``arrival`` comes from a sequence that a refused duplicate also draws from:
                # its values shift when reports are sent twice, its order must not.
                rows_in.sort(key=lambda r: r["arrival"])
                for rank, r in enumerate(rows_in):
                    r["arrival"] = rank
            drop = TIMING_COLUMNS.get(table, set())
            rows = [
                normalised({k: v for k, v in r.items() if k not in drop}, started) for r in rows_in
            ]
            state[table] = sorted(rows, key=repr)
    return state
