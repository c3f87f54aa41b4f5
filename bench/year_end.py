"""Year-end summary on a city-scale year, against a raw GROUP BY, measured in one run.

    .venv/bin/python bench/year_end.py [--reports 500000 --drills 5000 --plans 3000]

Loads a year into an embedded PostgreSQL (pgserver, temporary directory) with COPY: half a
million disaster-report rows over thousands of disaster processes, thousands of plans, drills
and corrective actions, a city's 村居 with their officers, typhoons and warnings. Then it times
the summary (every figure by set-based SQL, then the text) against the plainest aggregation of
the biggest table (``SELECT late, count(*) FROM disaster_report GROUP BY late``), best of N
runs each, and prints the ratio (target <= 5) and the text's opening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy import text

from activities.summary_text import load_templates, render
from yingji.core.db import make_engine, migrate
from yingji.core.embedded import start_postgres
from yingji.core.settings import Settings
from yingji.stores import summary as summary_store

YEAR, DISTRICT = 2024, "压测市"
YEAR_START = date(YEAR, 1, 1)  # the officers serve from here: the year's roster
REPORT_COLUMNS = [
    "disaster_code",
    "report_id",
    "kind",
    "slot",
    "as_of",
    "submitted_at",
    "late",
    "status",
    "indicators",
    "towns",
    "review_reason",
]


def at(day: int, hour: int = 10) -> datetime:
    return datetime(YEAR, 1, 1, hour, tzinfo=UTC) + timedelta(days=day % 365)


async def load(dsn: str, args: argparse.Namespace, rng: random.Random) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    now = datetime.now(UTC)
    kinds = ["overall", "special", "departmental", "grassroots", "enterprise", "on_site"]
    counts: dict[str, int] = {}

    async def copy(table: str, columns: list[str], records: list[tuple]) -> None:
        await conn.copy_records_to_table(table, records=records, columns=columns)
        counts[table] = counts.get(table, 0) + len(records)

    await copy(
        "plan",
        [
            "code",
            "workflow_id",
            "name",
            "kind",
            "level",
            "unit",
            "stage",
            "version",
            "filing_overdue",
            "evaluation_overdue",
            "last_seq",
            "updated_at",
        ],
        [
            (
                f"P{i}",
                f"plan:P{i}",
                f"压测预案{i}",
                kinds[i % 6],
                "district",
                "单位",
                "in_force",
                1,
                False,
                False,
                1,
                now,
            )
            for i in range(args.plans)
        ],
    )
    await copy(
        "plan_event",
        ["plan_code", "seq", "at", "kind", "version", "stage_to", "actor", "detail"],
        [
            (
                f"P{i}",
                1,
                at(i),
                "issued",
                1,
                "issued",
                "x",
                json.dumps({"issued_on": at(i).date().isoformat()}),
            )
            for i in range(args.plans)
        ],
    )
    await copy(
        "plan_revision",
        ["plan_code", "version", "from_version", "started_at", "causes", "triggers"],
        [(f"P{i}", 2, 1, at(i + 30), "[]", "[]") for i in range(0, args.plans, 7)],
    )
    types = ["live", "tabletop", "comprehensive", "single"]
    await copy(
        "drill",
        [
            "code",
            "workflow_id",
            "name",
            "drill_type",
            "scenario",
            "organiser",
            "site",
            "participants",
            "stage",
            "scheduled_on",
            "conducted_on",
            "participant_count",
            "evaluation_overdue",
            "open_actions",
            "overdue_actions",
            "last_seq",
            "updated_at",
        ],
        [
            (
                f"D{i}",
                f"drill:D{i}",
                f"演练{i}",
                types[i % 4] if i % 500 else "comprehensive",
                "s",
                "单位",
                "x",
                json.dumps(["甲", "乙"]),
                "evaluated",
                at(i).date(),
                at(i).date(),
                rng.randint(10, 500),
                False,
                0,
                0,
                1,
                now,
            )
            for i in range(args.drills)
        ],
    )
    await copy(
        "corrective_action",
        ["drill_code", "number", "finding", "description", "owner", "due_on", "done_on", "overdue"],
        [
            (
                f"D{i}",
                n,
                1,
                "x",
                "y",
                at(i + 30).date(),
                at(i + 20).date() if n % 3 else None,
                False,
            )
            for i in range(args.drills)
            for n in (1, 2)
        ],
    )
    processes = max(1, args.reports // 250)
    await copy(
        "disaster",
        [
            "code",
            "workflow_id",
            "name",
            "hazard",
            "district",
            "occurred_at",
            "closed",
            "reports",
            "late_reports",
            "last_seq",
        ],
        [
            (f"X{i}", f"disaster:X{i}", "x", "暴雨", DISTRICT, at(i), True, 250, 0, 1)
            for i in range(processes)
        ],
    )
    batch: list[tuple] = []
    for n in range(args.reports):
        process = n % processes
        batch.append(
            (
                f"X{process}",
                f"R{n}",
                "update",
                f"update:{n}",
                at(process + n // processes),
                at(process + n // processes, 9),
                rng.random() < 0.03,
                "passed",
                "{}",
                "[]",
                "",
            )
        )
        if len(batch) == 50_000:
            await copy("disaster_report", REPORT_COLUMNS, batch)
            batch = []
    if batch:
        await copy("disaster_report", REPORT_COLUMNS, batch)
    units = [(f"T{t}", f"第{t}街镇", "town", None, DISTRICT) for t in range(215)]
    units += [
        (f"T{t}-V{v}", f"村居{v}", "village", f"T{t}", DISTRICT)
        for t in range(215)
        for v in range(28)
    ]
    await copy("admin_unit", ["code", "name", "level", "parent_code", "district"], units)
    await copy(
        "officer",
        ["unit_code", "role", "name", "phone", "active", "updated_at", "valid_from"],
        [
            (u[0], role, f"{u[0]}{role}", "13800000000", rng.random() > 0.01, now, YEAR_START)
            for u in units
            for role in ("A", "B")
        ],
    )
    for number, name in ((13, "贝碧嘉"), (14, "普拉桑")):
        await conn.execute(
            "INSERT INTO typhoon_event (event_id, workflow_id, year, number, name, district, "
            "status, level, warning, opened_at) "
            "VALUES ($1, $1, $2, $3, $4, $5, 'closed', 'none', 'lifted', $6)",
            f"{YEAR}:{number}",
            YEAR,
            number,
            name,
            DISTRICT,
            at(250),
        )
        await conn.execute(
            "INSERT INTO typhoon_totals (event_id, relocated) VALUES ($1, $2)",
            f"{YEAR}:{number}",
            rng.randint(100_000, 300_000),
        )
    await copy(
        "warning",
        [
            "warning_id",
            "workflow_id",
            "title",
            "district",
            "issued_by",
            "issued_at",
            "finished",
            "targets",
            "answered",
            "not_reached",
            "call_response_rate",
            "last_seq",
        ],
        [
            (f"W{i}", f"warning:W{i}", "预警", DISTRICT, "x", at(i), True, 215, 210, 5, 0.97, 1)
            for i in range(1000)
        ],
    )
    await conn.execute("ANALYZE")
    await conn.close()
    return counts


async def best_of(n: int, job) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await job()
        times.append(time.perf_counter() - start)
    return min(times)


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(2024)
    with tempfile.TemporaryDirectory(prefix="yingji-year-end-") as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))  # type: ignore[call-arg]
        pg = start_postgres(settings)
        try:
            url = pg.get_uri()
            await migrate(url)
            start = time.perf_counter()
            counts = await load(url, args, rng)
            print(
                f"loaded with COPY in {time.perf_counter() - start:.1f}s: "
                + ", ".join(f"{table} {n:,}" for table, n in counts.items())
            )
            engine = make_engine(url)
            templates = load_templates()

            async def baseline() -> None:
                async with engine.connect() as conn:
                    await conn.execute(
                        text("SELECT late, count(*) FROM disaster_report GROUP BY late")
                    )

            async def summary() -> None:
                figures = await summary_store.figures(engine, YEAR, DISTRICT)
                render(figures, "压测市应急管理局", templates)

            await baseline()  # warm the cache the same way for both
            await summary()
            raw = await best_of(args.repeat, baseline)
            full = await best_of(args.repeat, summary)
            figures = await summary_store.figures(engine, YEAR, DISTRICT)
            _, markdown = render(figures, "压测市应急管理局", templates)
            await engine.dispose()
        finally:
            pg.cleanup()
    ratio = full / raw
    print(
        f"baseline  raw GROUP BY over disaster_report: {raw * 1000:.1f} ms (best of {args.repeat})"
    )
    print(
        f"summary   all figures by SQL + the text:      {full * 1000:.1f} ms "
        f"(best of {args.repeat})"
    )
    print(
        f"check     reports on time {figures.reports_on_time:,} + late {figures.reports_late:,} "
        f"= {figures.reports_on_time + figures.reports_late:,} (loaded {args.reports:,}); "
        f"drills {figures.drills_conducted:,}; plans made {sum(figures.plans_made.values()):,}"
    )
    print(f"text      {markdown.splitlines()[-1][:160]}…")
    exact = figures.reports_on_time + figures.reports_late == args.reports
    ok = ratio <= 5 and exact
    print(f"RESULT    summary/raw ratio {ratio:.2f} (target <= 5.00); {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=500_000)
    parser.add_argument("--drills", type=int, default=5_000)
    parser.add_argument("--plans", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args())))
