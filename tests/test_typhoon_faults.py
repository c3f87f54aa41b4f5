"""Typhoon tallies under stress: continue-as-new while reports flow, a worker killed in a burst."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.typhoon import TyphoonBoard, TyphoonOpen, UnitReport
from tests.conftest import SUGGEST_AFTER_EVENTS, make_settings
from tests.helpers import eventually, kill, new_event, rows, start_worker
from worker import build_worker
from yingji.core.synthetic import ReportStream, district_units
from yingji.services import typhoon as typhoons
from yingji.stores.typhoon import add_units

ROUNDS = 30
FAST = make_settings(typhoon_apply_min_seconds=0.05, typhoon_apply_max_seconds=0.2)


async def synthetic_event(
    engine, code: str, towns: int, villages: int
) -> tuple[TyphoonOpen, list[str]]:
    district = f"压测区{code}"
    units = district_units(district, code, towns, villages)
    await add_units(engine, units)
    event = await new_event(engine, "压测台风", district)
    return event, [u["code"] for u in units if u["level"] == "village"]


async def send_all(engine, reports: list[UnitReport], concurrency: int = 32) -> list[str]:
    gate = asyncio.Semaphore(concurrency)

    async def one(r: UnitReport) -> str:
        async with gate:
            return (await typhoons.submit_report(engine, r)).status

    return await asyncio.gather(*(one(r) for r in reports))


async def send_in_waves(engine, reports: list[UnitReport], waves: int, pause: float) -> list[str]:
    size = -(-len(reports) // waves)
    statuses: list[str] = []
    for start in range(0, len(reports), size):
        statuses += await send_all(engine, reports[start : start + size])
        await asyncio.sleep(pause)
    return statuses


def matches(board: TyphoonBoard, stream: ReportStream) -> bool:
    d = board.district_totals
    return (d.relocated, d.centralized, d.pre_evacuated) == (
        stream.expected_total("relocated"),
        stream.expected_total("centralized"),
        stream.expected_total("pre_evacuated"),
    )


async def test_reports_keep_flowing_across_continue_as_new(
    small_history_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    client: Client = small_history_env.client
    event, villages = await synthetic_event(engine, code, towns=4, villages=5)
    stream = ReportStream(event.event_id, villages, datetime(2024, 9, 16, tzinfo=UTC))
    async with build_worker(client, FAST, engine, task_queue):
        await typhoons.open_typhoon(client, engine, FAST, event, task_queue=task_queue)
        for _ in range(ROUNDS):
            await send_all(engine, stream.next_round())
            await asyncio.sleep(0.2)
        board = await eventually(
            lambda: typhoons.board(client, event.event_id), lambda b: matches(b, stream), within=30
        )
        runs = [w async for w in client.list_workflows(f"WorkflowId = 'typhoon:{event.event_id}'")]
    assert board.reports_applied == ROUNDS * len(villages)
    assert len(runs) >= 3, [(r.status, r.history_length) for r in runs]
    assert max(r.history_length for r in runs) < SUGGEST_AFTER_EVENTS + 30
    assert len(board.towns) == 4 and board.district_totals.units_reported == 20


async def test_worker_killed_during_a_burst_leaves_an_exact_total(
    dev_env: WorkflowEnvironment, engine, database_url: str, task_queue: str, code: str
) -> None:
    client = dev_env.client
    address = client.service_client.config.target_host
    event, villages = await synthetic_event(engine, code, towns=10, villages=20)
    stream = ReportStream(event.event_id, villages, datetime(2024, 9, 16, tzinfo=UTC))
    worker = start_worker(address, database_url, task_queue)
    try:
        await typhoons.open_typhoon(client, engine, FAST, event, task_queue=task_queue)
        first, second = stream.next_round(), stream.next_round()
        # The burst: both rounds, every report sent twice, in a shuffled order.
        burst = first + second + second + first
        sending = asyncio.create_task(send_all(engine, burst))
        await eventually(
            lambda: typhoons.board(client, event.event_id),
            lambda b: b.reports_applied > 0,
            within=30,
        )
        kill(worker)  # mid-burst, with reports still arriving
        statuses = await sending
        worker = start_worker(address, database_url, task_queue)
        board = await eventually(
            lambda: typhoons.board(client, event.event_id),
            lambda b: b.reports_applied == 400,
            within=60,
        )
    finally:
        kill(worker)
    assert statuses.count("duplicate") == 400
    assert matches(board, stream)
    assert board.district_totals.units_reported == 200
    latest = await rows(
        engine,
        "SELECT count(*) AS n, sum(relocated) AS r FROM typhoon_unit_latest WHERE event_id = :e",
        e=event.event_id,
    )
    assert latest == [{"n": 200, "r": stream.expected_total("relocated")}]
    unapplied = await rows(
        engine,
        "SELECT count(*) AS n FROM typhoon_report WHERE event_id = :e AND applied_batch IS NULL",
        e=event.event_id,
    )
    assert unapplied == [{"n": 0}]
