"""The fault suite: the 梅花 year loaded under faults ends exactly as it does without them.

Each run has a stack of its own, as ``make run`` builds it: a file-backed Temporal dev server, an
embedded PostgreSQL cluster and ``python -m worker`` in its own process. After the load, the
year-end summary of 2022 is run. The run without faults gives the reference; every faulty run
must end with the same rows in every table and the same state in every workflow, apart from
when things were processed and how typhoon reports happened to be grouped into apply batches.

Faults, injected at a named step of the load (the loader's progress hook):
- the worker is SIGKILLed in the middle of the typhoon burst, and again during the summary run;
- the Temporal server is SIGKILLed and restarted on its file in the middle of a plan lifecycle;
- PostgreSQL is stopped for a few seconds while updates wait on their projection writes;
- every typhoon report is sent twice, and the whole file is loaded twice.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.conftest import make_settings
from tests.helpers import eventually, free_port, kill, start_worker
from tests.stack import MEIHUA, database_state, normalised
from yingji import loader as scenario
from yingji.core.db import make_engine, migrate
from yingji.core.embedded import TemporalDevServer, start_postgres
from yingji.core.search import ensure_search_attributes
from yingji.core.settings import Settings
from yingji.core.temporal import connect
from yingji.services import disaster as disasters
from yingji.services import drill as drills
from yingji.services import plan as plans
from yingji.services import summary as summaries
from yingji.services import typhoon as typhoons
from yingji.services import warning as warnings

pytestmark = pytest.mark.timeout(300)


@dataclass
class Embedded:
    """The embedded stack of one run, with handles to break each part of it."""

    settings: Settings
    database_url: str
    temporal: TemporalDevServer
    postgres: Any
    client: Client
    engine: Any
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    worker: Any = None
    faults: list[str] = field(default_factory=list)

    def start_worker(self) -> None:
        self.worker = start_worker(
            self.temporal.address, self.database_url, self.settings.temporal_task_queue
        )

    def kill_worker(self) -> None:
        kill(self.worker)
        self.faults.append("worker SIGKILL")
        self.start_worker()

    async def restart_temporal(self) -> None:
        assert self.temporal.process is not None
        self.temporal.process.send_signal(signal.SIGKILL)
        self.temporal.process.wait()
        self.temporal.launch()
        await self.temporal.wait_ready()
        self.faults.append("temporal SIGKILL + restart")

    def stop_postgres(self) -> None:
        self.postgres.cleanup()  # pg_ctl stop: every connection is cut
        self.faults.append("postgres stopped")

    def start_postgres(self) -> None:
        self.postgres = start_postgres(self.settings)


@asynccontextmanager
async def embedded(tmp: Path) -> AsyncIterator[Embedded]:
    port = free_port()
    settings = make_settings(
        data_dir=tmp,
        embedded_temporal_port=port,
        embedded_temporal_ui_port=free_port(),
        temporal_address=f"127.0.0.1:{port}",
        temporal_task_queue=f"faults-{uuid.uuid4().hex[:8]}",
    )
    postgres = start_postgres(settings)
    url = postgres.get_uri()
    await migrate(url)
    temporal = TemporalDevServer(settings)
    temporal.launch()
    engine = make_engine(url)
    stack: Embedded | None = None
    try:
        await temporal.wait_ready()
        client = await connect(settings)
        await ensure_search_attributes(client, settings.temporal_namespace)
        stack = Embedded(settings, url, temporal, postgres, client, engine)
        stack.start_worker()
        try:
            yield stack
        finally:
            kill(stack.worker)
    finally:
        temporal.stop()
        await engine.dispose()
        # the server that runs now: a fault may have stopped the first and started another
        (stack.postgres if stack is not None else postgres).cleanup()


Hook = Callable[[Embedded, str], Awaitable[None]]


def doubled_reports(parsed: scenario.Scenario) -> scenario.Scenario:
    """Every typhoon report twice, the second right after the first."""
    typhoons_twice = [
        t.model_copy(update={"reports": [r for r in t.reports for _ in (1, 2)]})
        for t in parsed.typhoons
    ]
    return parsed.model_copy(update={"typhoons": typhoons_twice})


async def run_year(
    tmp: Path,
    hook: Hook | None = None,
    twice: bool = False,
    kill_during_summary: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Load the 梅花 year, then run its summary; return (database, workflows, faults)."""
    parsed = scenario.read(MEIHUA)
    if twice:
        parsed = doubled_reports(parsed)
    async with embedded(tmp) as stack:

        async def progress(where: str) -> None:
            if hook is not None:
                await hook(stack, where)

        for _ in range(2 if twice else 1):
            await scenario.load(
                stack.client, stack.engine, stack.settings, parsed, progress=progress
            )
        summary = summaries.run_summary(stack.client, stack.settings, 2022, "fault suite")
        if kill_during_summary:
            document = await kill_holding_the_summary(stack, summary)
        else:
            document = await summary
        assert "梅花" in document.markdown
        return (
            await database_state(stack.engine, stack.started),
            await workflow_states(stack.client, stack.started),
            stack.faults,
        )


async def kill_holding_the_summary(stack: Embedded, summary: Awaitable[Any]) -> Any:
    """The summary takes a tenth of a second, too quick to hit with a kill; so the worker is
    frozen (SIGSTOP) first, the run starts and its first task is handed to the frozen worker's
    waiting poll, and the worker is SIGKILLed holding it. A new worker must finish the run."""
    stack.worker.send_signal(signal.SIGSTOP)
    task = asyncio.ensure_future(summary)
    handle = stack.client.get_workflow_handle(
        f"year-end-summary:{stack.settings.bureau_district}:2022"
    )

    async def handed_out() -> bool:
        history = await handle.fetch_history()
        return any(e.HasField("workflow_task_started_event_attributes") for e in history.events)

    await eventually(handed_out, bool, within=30)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    stack.kill_worker()
    return await task


async def workflow_states(client: Client, started: datetime) -> dict[str, Any]:
    """What every workflow of the scenario says of itself (its query), normalised."""
    views: dict[str, Any] = {
        "plan JD-2022-FXFT": await plans.show(client, "JD-2022-FXFT"),
        "plan JD-2022-YJBN": await plans.show(client, "JD-2022-YJBN"),
        "drill": await drills.show(client, "JD-2022-FXFT-YL"),
        "typhoon": await typhoons.board(client, "2022:12"),
        "warning": await warnings.show(client, "JD-2022-0913-TFCS"),
        "disaster": await disasters.show(client, "JD-2022-MEIHUA"),
    }
    out = {k: normalised(v.model_dump(mode="json"), started) for k, v in views.items()}
    out["typhoon"].pop("last_seq")  # the typhoon's event numbers follow its apply batches
    return out


@pytest.fixture(scope="module")
async def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    database, workflows, faults = await run_year(tmp_path_factory.mktemp("reference"))
    assert faults == []
    return database, workflows


async def kill_worker_mid_burst(stack: Embedded, where: str) -> None:
    if where.startswith("typhoons[0].reports[15]"):
        stack.kill_worker()


async def restart_temporal_mid_plan(stack: Embedded, where: str) -> None:
    if where.startswith("plans[0].steps[3]") or where.startswith("plans[1].steps[5]"):
        await stack.restart_temporal()


DOWN_SECONDS = 4.0


async def stop_postgres_during_writes(stack: Embedded, where: str) -> None:
    """Stop PostgreSQL just before a step that writes through activities (a plan's approval,
    a drill's evaluation, a disaster report); start it again a few seconds later while the
    step's update is waiting on its projection."""
    if where in (
        "plans[0].steps[4] (approve)",
        "drills[0].steps[1] (evaluate)",
        "disasters[0].steps[2] (report)",
    ):
        stack.stop_postgres()
        loop = asyncio.get_running_loop()
        loop.call_later(DOWN_SECONDS, stack.start_postgres)
        stack.faults.append(f"down at {where} from {time.monotonic():.1f}")


CASES = {
    "worker-killed-in-burst-and-summary": dict(
        hook=kill_worker_mid_burst, kill_during_summary=True
    ),
    "temporal-restarted-mid-plan": dict(hook=restart_temporal_mid_plan),
    "postgres-stopped-during-writes": dict(hook=stop_postgres_during_writes),
    "every-report-twice-and-file-twice": dict(twice=True),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_faulty_run_ends_like_the_reference(
    case: str, reference: tuple[dict, dict], tmp_path: Path
) -> None:
    database, workflows, faults = await run_year(tmp_path, **CASES[case])  # type: ignore[arg-type]
    expected = {
        "worker-killed-in-burst-and-summary": 2,
        "temporal-restarted-mid-plan": 2,
        "postgres-stopped-during-writes": 6,
        "every-report-twice-and-file-twice": 0,
    }[case]
    assert len(faults) == expected, faults  # each fault really happened
    ref_database, ref_workflows = reference
    assert differences(workflows, ref_workflows) == []
    assert differences(database, ref_database) == []


def differences(got: Any, want: Any, path: str = "") -> list[str]:
    """Where two nested values differ, as paths with both values (an empty list: equal)."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for key in sorted(set(got) | set(want), key=str):
            if key not in got or key not in want:
                out.append(f"{path}.{key}: only in {'reference' if key in want else 'this run'}")
            else:
                out += differences(got[key], want[key], f"{path}.{key}")
        return out
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [
            d
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for d in differences(g, w, f"{path}[{i}]")
        ]
    return [] if got == want else [f"{path}: {got!r} != reference {want!r}"]
