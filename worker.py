"""The Yingji worker: every workflow and activity on one task queue.

Run it as ``python worker.py`` (or let ``yingji serve`` run it). Scale out by starting more.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.calendar import add_working_days
from activities.disaster import DisasterActivities
from activities.drill import DrillActivities
from activities.fanout import FanoutActivities
from activities.notify import NotifierActivities
from activities.plan import PlanActivities
from activities.programme import programme_dates
from activities.summary import SummaryActivities
from activities.typhoon import TyphoonActivities
from activities.warning import WarningActivities
from workflows.disaster import DisasterWorkflow
from workflows.drill import DrillWorkflow, ProgrammeWorkflow
from workflows.fanout import WarningBatchWorkflow, WarningFanoutWorkflow
from workflows.plan import PlanWorkflow
from workflows.summary import SummaryWorkflow
from workflows.typhoon import TyphoonWorkflow
from workflows.warning import WarningWorkflow
from yingji.core.db import make_engine, migrate
from yingji.core.logging import configure_logging, get_logger
from yingji.core.search import ensure_search_attributes
from yingji.core.settings import Settings
from yingji.core.temporal import connect, metrics_runtime
from yingji.services.summary import ensure_schedule

WORKFLOWS: Sequence[type] = (
    PlanWorkflow,
    DrillWorkflow,
    ProgrammeWorkflow,
    TyphoonWorkflow,
    WarningWorkflow,
    WarningFanoutWorkflow,
    WarningBatchWorkflow,
    DisasterWorkflow,
    SummaryWorkflow,
)

#: Deterministic modules imported once, outside the sandbox.
PASSTHROUGH = ("pydantic", "pydantic_core", "annotated_types", "models", "structlog")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def activities(engine: AsyncEngine, settings: Settings | None = None) -> list[Any]:
    settings = settings or Settings(_env_file=None)  # type: ignore[call-arg]
    plans = PlanActivities(engine, settings.bureau_district, settings.bureau_level)
    drills = DrillActivities(engine, settings.bureau_district, settings.bureau_level)
    notifier = NotifierActivities(
        engine,
        settings.notify_webhook_url,
        settings.notify_webhook_timeout_seconds,
        webhook_secret=settings.notify_webhook_secret,
    )
    typhoons = TyphoonActivities(engine, notifier)
    disasters = DisasterActivities(engine)
    summary = SummaryActivities(engine, settings.summary_template_path)
    fanout = FanoutActivities(engine, notifier)
    return [
        plans.project_plan,
        add_working_days,
        drills.project_drill,
        drills.project_programme,
        notifier.notify,
        programme_dates,
        typhoons.register_typhoon,
        typhoons.apply_reports,
        typhoons.close_intake,
        typhoons.project_typhoon,
        typhoons.towns,
        typhoons.shelters,
        typhoons.open_round,
        typhoons.check_round,
        WarningActivities(engine).project_warning,
        fanout.plan_warning,
        fanout.batch_chains,
        fanout.queue_calls,
        fanout.deliver_calls,
        fanout.project_batch,
        fanout.look_rows,
        fanout.project_fanout,
        disasters.typhoon_relocation,
        disasters.project_disaster,
        summary.figures,
        summary.store,
    ]


def build_worker(
    client: Client, settings: Settings, engine: AsyncEngine, task_queue: str | None = None
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=list(WORKFLOWS),
        activities=activities(engine, settings),
        workflow_runner=workflow_runner(),
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_seconds),
    )


async def run_worker(
    settings: Settings,
    database_url: str,
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run until ``stop`` is set, then shut down gracefully. ``on_ready`` is called once the
    database is migrated and the search attributes and the schedule exist, so that whatever it
    announces can be used at once."""
    log = get_logger("yingji.worker")
    if settings.migrate_on_start:
        await migrate(database_url)
    engine = make_engine(database_url)
    runtime = (
        metrics_runtime(settings.worker_metrics_address)
        if settings.worker_metrics_address
        else None
    )
    client = await connect(settings, runtime)
    worker = build_worker(client, settings, engine)
    try:
        added = await ensure_search_attributes(client, settings.temporal_namespace)
        if added:
            log.info("search attributes registered", names=added)
    except RPCError as exc:  # e.g. Temporal Cloud: created out of band
        log.warning("cannot register search attributes", error=exc.message)
    if settings.summary_schedule_enabled and settings.missing_bureau:
        log.warning(
            "year-end schedule not created: the bureau is not configured",
            missing=settings.missing_bureau,
        )
    elif settings.summary_schedule_enabled:
        await ensure_schedule(client, settings)
    log.info("worker started", task_queue=settings.temporal_task_queue)
    try:
        async with worker:
            if on_ready is not None:
                on_ready()
            await stop.wait()
            log.info("worker stopping")
    finally:
        await engine.dispose()
    log.info("worker stopped")


#: Each stops the process gracefully: Ctrl-C, a service manager, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop


async def main(settings: Settings | None = None) -> None:
    """A worker on its own (``yingji worker``, ``python -m worker``): start as many as needed."""
    if settings is None:
        from yingji.cli.common import load_settings  # a bad value: one line, no traceback

        settings = load_settings()
    configure_logging(settings)
    settings.require_bureau_in_production()
    if settings.database_url is None:
        raise SystemExit(
            "error: YINGJI_DATABASE_URL is not set; use `yingji serve` for the embedded stack"
        )
    await run_worker(settings, settings.database_url.get_secret_value(), stop_on_signals())


if __name__ == "__main__":
    asyncio.run(main())
