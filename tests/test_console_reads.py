"""The console reads boards from the projection (issue [7/7] point 3): the typhoon board the
duty room polls is built from PostgreSQL, equal to what the workflow's ``board`` query answers;
a closed typhoon's board is answered with no worker running. On the time-skipping server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.typhoon import (
    CloseTyphoon,
    FeedbackInput,
    LevelChange,
    ResponseLevel,
    ShelterChange,
    TyphoonBoard,
    TyphoonStatus,
    WarningColour,
)
from tests.conftest import console_tokens_for, make_settings
from tests.helpers import eventually, new_event
from tests.test_typhoon_response import (
    STORM,
    district_of,
    engine_of,
    figures,
    occupancy,
    promptly,
    settle,
    unit_report,
)
from yingji.console.app import create_app
from yingji.services import shelter as shelters
from yingji.services import typhoon as typhoons
from yingji.stores import typhoon as typhoon_store
from yingji.stores.typhoon import add_units

V, D = (f"{role}-reads-token-0123456789abcdef012345" for role in "vd")
TOKENS = console_tokens_for({V: "viewer", D: "duty_officer"})

#: What the projection tells of a round (its lists are recomputed, ``checked_at`` is the log's).
ROUND_FIELDS = {
    "no",
    "opened_at",
    "due_at",
    "by",
    "units",
    "reported",
    "missing_count",
    "stage",
    "reminded",
    "escalated",
}


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


@asynccontextmanager
async def console(client: Client, engine: Any, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        console_tokens=TOKENS, temporal_task_queue=task_queue, request_wait_seconds=3.0
    )
    app = create_app(settings, client=client, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        yield http


@asynccontextmanager
async def worker(client: Client, engine: Any, task_queue: str) -> AsyncIterator[None]:
    from worker import build_worker

    async with build_worker(client, STORM, engine, task_queue):
        yield


def _diff(a: TyphoonBoard, b: TyphoonBoard) -> dict[str, tuple[Any, Any]]:
    da, db = a.model_dump(), b.model_dump()
    return {k: (da[k], db[k]) for k in da if da[k] != db[k]}


async def served(api: httpx.AsyncClient, event_id: str) -> tuple[TyphoonBoard, str]:
    year, number = event_id.split(":")
    r = await api.get(f"/api/typhoons/{year}/{number}", headers=auth(V))
    assert r.status_code == 200, r.text
    return TyphoonBoard.model_validate(r.json()), r.headers["ETag"]


async def same_as_query(api: httpx.AsyncClient, client: Client, event_id: str) -> TyphoonBoard:
    """The board the console serves equals the workflow's answer (once both have the latest
    batch: the apply commits a moment before the workflow records it); its ETag is the
    event number. The store's own board (no query at all) equals it but for the rounds'
    lists, which the workflow keeps as of its last check."""
    deadline = time.monotonic() + 20
    while True:
        want = await typhoons.board(client, event_id)
        got, etag = await served(api, event_id)
        if _agree(got, want):
            break
        assert time.monotonic() < deadline, str(_diff(got, want))[:3000]
        await asyncio.sleep(0.2)
    assert etag == f'"{want.last_seq}"'
    return want


async def level(
    api: httpx.AsyncClient, event_id: str, body: dict[str, str], etag: str, key: str
) -> httpx.Response:
    """A level change with If-Match, sent again under its key if it is answered 202 (on the
    time-skipping server an update can be lost; the key applies it once)."""
    year, number = event_id.split(":")
    for _ in range(5):
        r = await api.post(
            f"/api/typhoons/{year}/{number}/level",
            json=body,
            headers=auth(D, **{"If-Match": etag, "Idempotency-Key": key}),
        )
        if r.status_code != 202:
            return r
    raise AssertionError(f"level change {key} never answered")


#: What an open event's latest round counts live from the intake on the console's board (the
#: workflow keeps them as of its last check: a report after it showed as 未报 until the next).
LIVE_ROUND_FIELDS = {"reported", "missing_count", "missing", "late"}


def _agree(got: TyphoonBoard, want: TyphoonBoard) -> bool:
    """Equal, but for an open event's rounds' live counts (see ``tests/test_round_board.py``)."""
    if want.status == "closed":
        return got == want
    skip = {"rounds"}
    if got.model_dump(exclude=skip) != want.model_dump(exclude=skip):
        return False
    return [r.model_dump(exclude=LIVE_ROUND_FIELDS) for r in got.rounds] == [
        r.model_dump(exclude=LIVE_ROUND_FIELDS) for r in want.rounds
    ]


def same_but_rounds(got: TyphoonBoard, want: TyphoonBoard) -> None:
    skip = {"rounds", "next_round_at"}
    assert got.model_dump(exclude=skip) == want.model_dump(exclude=skip), _diff(got, want)
    fields = ROUND_FIELDS - LIVE_ROUND_FIELDS  # the store's board counts them live
    assert [r.model_dump(include=fields) for r in got.rounds] == [
        r.model_dump(include=fields) for r in want.rounds
    ]


async def district_with_shelters(engine: Any, code: str, name: str) -> tuple[Any, tuple[str, ...]]:
    """A district of its own with three shelters, and a typhoon ``name`` not yet opened in it;
    the codes of 乙镇, 丙镇, 丁镇 and 丁镇's 东村."""
    district, units = district_of(code)
    await add_units(engine, units)
    t1, t2, t3 = (f"{code}-T{i}" for i in range(1, 4))
    await shelters.import_csv(
        engine,
        "code,name,unit,type,capacity,address\n"
        f"{code}-S1,甲镇文体中心,甲镇,室内,500,甲镇文化路1号\n"
        f"{code}-S2,乙镇中学,{t2},学校,300,乙镇学府路2号\n"
        f"{code}-S3,东村村委会,东村,室内,200,东村1组\n",
        district=district,
    )
    return await new_event(engine, name, district), (t1, t2, t3, f"{code}-T4-V1")


async def test_the_board_is_read_from_postgres_and_a_closed_one_needs_no_worker(
    ts_env: WorkflowEnvironment, engine: Any, task_queue: str, code: str
) -> None:
    engine_of[:] = [engine]
    client = ts_env.client
    event, (t1, t2, t3, v1) = await district_with_shelters(engine, code, "贝碧嘉")
    e = event.event_id
    async with console(client, engine, task_queue) as api:
        async with worker(client, engine, task_queue):
            await typhoons.open_typhoon(client, engine, STORM, event, task_queue=task_queue)
            await eventually(lambda: typhoons.board(client, e), lambda b: b.instructions)
            board = await same_as_query(api, client, e)
            assert board.instructions and board.next_round_at is not None

            # Reports, shelters and their occupancy, a level change with its actions, feedback.
            await typhoons.submit_report(engine, unit_report(event, t1, figures(400, 20, 0, 300)))
            await typhoons.submit_report(engine, unit_report(event, t2, figures(380, 10, 0, 290)))
            await typhoons.submit_report(engine, unit_report(event, t3, figures(0, 15)))
            change = LevelChange(level=ResponseLevel.II, warning=WarningColour.ORANGE, by="区防指")
            await promptly(lambda uid: typhoons.change_level(client, e, change, uid), "r-level")
            opening = ShelterChange(
                shelters=["甲镇文体中心", f"{code}-S2", "东村村委会"], by="值班员"
            )
            await promptly(
                lambda uid: typhoons.open_shelters(client, engine, e, opening, uid), "r-open"
            )
            for r in (occupancy(event, f"{code}-S1", 300), occupancy(event, f"{code}-S2", 350)):
                await typhoons.submit_occupancy(engine, r)
            board = await settle(ts_env, client, event)
            i2 = board.actions[-1].ref
            answer = FeedbackInput(instruction=i2, town="甲镇", text="已部署转移", by="甲镇")
            await promptly(lambda uid: typhoons.feedback(client, e, answer, uid), "r-fb")
            board = await same_as_query(api, client, e)
            assert board.reports_applied == 3 and board.shelter_occupancy == 650
            assert [m.name for m in board.mismatches] == ["乙镇"]
            assert board.warnings and all(a.done for a in board.actions)

            # An hour on: the instruction is overdue, a round opens, falls due, is reminded.
            await ts_env.sleep(timedelta(minutes=61))
            await ts_env.sleep(timedelta(minutes=50))
            await typhoons.submit_report(engine, unit_report(event, v1, figures(150, 0, 0, 120)))
            board = await settle(ts_env, client, event)
            board = await same_as_query(api, client, e)
            line = next(i for i in board.instructions if i.id == i2)
            assert sorted(line.overdue) == ["丁镇", "丙镇", "乙镇"]
            assert board.rounds and board.rounds[0].stage == "reminded"
            found = await typhoon_store.projected_board(engine, e)
            assert found is not None
            same_but_rounds(found[1], board)

            # A change made from the served view's ETag applies; a stale one is refused.
            _, etag = await served(api, e)
            lifted = {"level": "II", "warning": "lifted", "by": "区防指"}
            r = await level(api, e, lifted, etag, f"lift-{code}")
            assert r.status_code == 200, r.text
            now, etag_now = await served(api, e)
            assert now.warning is WarningColour.LIFTED and etag_now == f'"{r.json()["last_seq"]}"'
            ended = {"level": "none", "warning": "lifted", "by": "区防指"}
            r = await level(api, e, ended, etag, f"end-{code}")
            assert r.status_code == 412, r.text
            ending = LevelChange(level=ResponseLevel.NONE, warning=WarningColour.LIFTED, by="x")
            await promptly(lambda uid: typhoons.change_level(client, e, ending, uid), "r-end")
            closing = CloseTyphoon(by="区防指")
            final = await promptly(lambda uid: typhoons.close(client, e, closing, uid), "r-close")
            assert final.status is TyphoonStatus.CLOSED and final.shelters
            got, _ = await served(api, e)
            same_but_rounds(got, final)

        # No worker now: the closed typhoon's board still comes, from PostgreSQL, at once.
        started = time.monotonic()
        got, etag = await served(api, e)
        assert time.monotonic() - started < 2
        assert etag == f'"{final.last_seq}"'
        same_but_rounds(got, final)
        assert got.district_totals.relocated == 420 + 390 + 15 + 150
        assert [s.code for s in got.shelters] == [s.code for s in final.shelters]
        # An event the projection does not know is asked of Temporal: 404.
        unknown = (await new_event(engine, "未知", event.district)).event_id.replace(":", "/")
        r = await api.get(f"/api/typhoons/{unknown}", headers=auth(V))
        assert r.status_code == 404, r.text


async def test_a_board_not_yet_projected_is_asked_of_the_workflow(
    ts_client: Client, engine: Any, task_queue: str, code: str
) -> None:
    """Opened but none of its events projected (event 0): the workflow answers, as before."""
    district, units = district_of(code)
    await add_units(engine, units)
    event = await new_event(engine, "摩羯", district)
    await typhoon_store.register(engine, event, typhoons.typhoon_workflow_id(event.event_id))
    assert await typhoon_store.projected_board(engine, event.event_id) is None
    async with console(ts_client, engine, task_queue) as api:
        year, number = event.event_id.split(":")
        r = await api.get(f"/api/typhoons/{year}/{number}", headers=auth(V))
        assert r.status_code == 404  # registered, never started: no workflow to ask
