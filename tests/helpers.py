"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError

from models.plan import (
    ApproveInput,
    IssueInput,
    PlanCreate,
    PlanKind,
    PlanLevel,
    PlanView,
    ReviewInput,
    ReviewOutcome,
    SubmitDraft,
)
from models.typhoon import ResponseLevel, TyphoonOpen, WarningColour
from tests.conftest import bureau_env
from workflows.plan import PlanWorkflow
from yingji.services.plan import plan_handle

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 20.0
) -> T:
    """Poll ``probe`` until ``accept`` holds; fail with the last value seen.

    A transient RPC error (a query reaching a worker that was just killed) counts as a miss.
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            value = await probe()
        except RPCError as exc:
            value = exc  # type: ignore[assignment]
        else:
            if accept(value):
                return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {value!r}")
        await asyncio.sleep(0.1)


def flood_plan(code: str) -> PlanCreate:
    return PlanCreate(
        code=code,
        name="嘉定区防汛防台专项应急预案",
        kind=PlanKind.SPECIAL,
        level=PlanLevel.DISTRICT,
        unit="嘉定区应急管理局",
        drafter="张敏",
    )


async def view(client: Client, code: str) -> PlanView:
    return await plan_handle(client, code).query(PlanWorkflow.view)


async def drive_to_approved(client: Client, code: str) -> PlanView:
    h = plan_handle(client, code)
    await h.execute_update(PlanWorkflow.submit, SubmitDraft(by="张敏"))
    for reviewer in ("区水务局", "专家组 王教授", "区司法局"):
        await h.execute_update(
            PlanWorkflow.review,
            ReviewInput(reviewer=reviewer, opinion="同意", outcome=ReviewOutcome.PASS),
        )
    return await h.execute_update(
        PlanWorkflow.approve,
        ApproveInput(approver="区政府常务会议", collective_discussion=True, opinion="原则同意"),
    )


async def issue(client: Client, code: str) -> PlanView:
    return await plan_handle(client, code).execute_update(
        PlanWorkflow.issue,
        IssueInput(document_number="嘉府办发〔2026〕12号", issuer="嘉定区人民政府办公室"),
    )


async def db_events(engine: AsyncEngine, code: str) -> list[dict]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT seq, kind, stage_from, stage_to, version, actor, detail FROM plan_event "
                "WHERE plan_code = :c ORDER BY seq"
            ),
            {"c": code},
        )
        return [dict(r) for r in rows.mappings()]


async def db_plan(engine: AsyncEngine, code: str) -> dict | None:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(text("SELECT * FROM plan WHERE code = :c"), {"c": code}))
            .mappings()
            .first()
        )
        return dict(row) if row else None


async def rows(engine: AsyncEngine, sql: str, **params: object) -> list[dict]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


ROOT = Path(__file__).parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_worker(
    address: str, database_url: str, task_queue: str, **settings: str
) -> subprocess.Popen[bytes]:
    """``python -m worker`` in its own process, as production runs it."""
    env = {
        **os.environ,
        "YINGJI_TEMPORAL_ADDRESS": address,
        "YINGJI_DATABASE_URL": database_url,
        "YINGJI_TEMPORAL_TASK_QUEUE": task_queue,
        "YINGJI_MIGRATE_ON_START": "false",
        "YINGJI_ENVIRONMENT": "production",
        **bureau_env(),
        **{f"YINGJI_{k.upper()}": v for k, v in settings.items()},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


JIADING_UNITS = ROOT / "examples" / "jiading-units.csv"


async def jiading_units(engine: AsyncEngine) -> None:
    """Register 嘉定区's 12 街镇 (JD-01…JD-12) from the example file, as an operator would;
    idempotent. No migration seeds them any more."""
    from yingji.services import unit as units

    await units.import_csv(engine, JIADING_UNITS.read_bytes())


async def new_event(
    engine: AsyncEngine, name: str = "贝碧嘉", district: str = "嘉定区", year: int | None = None
) -> TyphoonOpen:
    """A typhoon (year, number) that no test has used, in this run or in the database.

    In 嘉定区 (the default) its units are the example register's 街镇, imported first."""
    if district == "嘉定区":
        await jiading_units(engine)
    async with engine.connect() as conn:
        taken = set((await conn.execute(text("SELECT event_id FROM typhoon_event"))).scalars())
    taken |= _EVENTS_USED
    while True:
        candidate = (year or random.randint(2030, 2099), random.randint(1, 99))
        if f"{candidate[0]}:{candidate[1]}" not in taken:
            break
    _EVENTS_USED.add(f"{candidate[0]}:{candidate[1]}")
    return TyphoonOpen(
        year=candidate[0],
        number=candidate[1],
        name=name,
        district=district,
        opened_by="值班员 李强",
        level=ResponseLevel.IV,
        warning=WarningColour.BLUE,
    )


_EVENTS_USED: set[str] = set()


async def applied_reports(client: Client, event_id: str, count: int):  # type: ignore[no-untyped-def]
    """Wait until a typhoon's board includes ``count`` reports."""
    from yingji.services import typhoon as typhoons

    return await eventually(
        lambda: typhoons.board(client, event_id), lambda b: b.reports_applied >= count
    )


@contextmanager
def answering_webhook(status: int) -> Iterator[str]:
    """A webhook receiver on 127.0.0.1 that answers every POST with ``status``; its URL."""
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
