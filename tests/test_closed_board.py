"""A closed typhoon's board as the console serves it (built from PostgreSQL) is the one the
workflow's ``board`` query answers, field by field: status, closing time, level, totals, the
shelters open when it closed and the reporting rounds as the workflow ended them (its lists of
late and missing units as of its last check, not recomputed from reports that came after), at
once, a while later, and with no worker. On the time-skipping server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from models.typhoon import (
    CloseTyphoon,
    LevelChange,
    ResponseLevel,
    RoundInput,
    ShelterChange,
    Totals,
    TyphoonBoard,
    TyphoonStatus,
    WarningColour,
)
from tests.conftest import make_settings
from tests.helpers import eventually
from tests.test_console_reads import _diff, console, district_with_shelters, served
from tests.test_typhoon_response import (
    APPLY_MAX,
    engine_of,
    figures,
    occupancy,
    promptly,
    settle,
    unit_report,
)
from yingji.services import typhoon as typhoons
from yingji.stores import typhoon as typhoon_store

#: Rounds on demand only (so the test says when one opens), due in 30 minutes, reminded 15
#: minutes after, escalated an hour after.
RAIN = make_settings(
    typhoon_apply_min_seconds=0.1,
    typhoon_apply_max_seconds=APPLY_MAX,
    typhoon_round_minutes=0,
    typhoon_round_due_minutes=30,
    typhoon_round_remind_minutes=15,
    typhoon_round_escalate_minutes=60,
)


def same_board(got: TyphoonBoard, want: TyphoonBoard, when: str) -> None:
    """Every field equal, the rounds' lists included."""
    assert got == want, f"{when}: {str(_diff(got, want))[:4000]}"


async def test_a_closed_board_is_the_workflows_field_by_field(
    ts_env: WorkflowEnvironment,
    engine: Any,
    task_queue: str,
    code: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker import build_worker

    engine_of[:] = [engine]
    client = ts_env.client
    event, (t1, t2, t3, v1) = await district_with_shelters(engine, code, "派比安")
    e = event.event_id
    async with console(client, engine, task_queue) as api:
        async with build_worker(client, RAIN, engine, task_queue):
            await typhoons.open_typhoon(client, engine, RAIN, event, task_queue=task_queue)
            await eventually(lambda: typhoons.board(client, e), lambda b: b.instructions)

            # Ⅱ级, two of the three shelters opened by hand, a round started by hand, reports
            # from two of the five units and an occupancy report.
            change = LevelChange(level=ResponseLevel.II, warning=WarningColour.ORANGE, by="区防指")
            await promptly(lambda uid: typhoons.change_level(client, e, change, uid), "cb-ii")
            opening = ShelterChange(shelters=["甲镇文体中心", f"{code}-S2"], by="值班员")
            await promptly(
                lambda uid: typhoons.open_shelters(client, engine, e, opening, uid), "cb-open"
            )
            start = RoundInput(by="值班员")
            board = await promptly(lambda uid: typhoons.start_round(client, e, start, uid), "cb-r")
            assert [r.no for r in board.rounds] == [1] and board.rounds[0].stage == "open"
            await typhoons.submit_report(engine, unit_report(event, t1, figures(400, 20, 0, 300)))
            await typhoons.submit_report(engine, unit_report(event, t3, figures(0, 15)))
            await typhoons.submit_occupancy(engine, occupancy(event, f"{code}-S1", 300))
            await settle(ts_env, client, event)

            # The round falls due (乙镇, 东村, 西村 missing); 东村 reports late; the reminder
            # finds 乙镇 and 西村 missing (no officer to tell). Then 乙镇 reports too, after the
            # workflow's last check of the round: its lists stay as that check found them.
            await ts_env.sleep(timedelta(minutes=31))
            due = await eventually(
                lambda: typhoons.board(client, e), lambda b: b.rounds[0].stage == "due"
            )
            assert sorted(u.name for u in due.rounds[0].missing) == ["东村", "乙镇", "西村"]
            await typhoons.submit_report(engine, unit_report(event, v1, figures(150, 0, 0, 120)))
            await ts_env.sleep(timedelta(minutes=16))
            board = await eventually(
                lambda: typhoons.board(client, e), lambda b: b.rounds[0].stage == "reminded"
            )
            r1 = board.rounds[0]
            assert [u.name for u in r1.late] == ["东村"]
            assert [u.name for u in r1.missing] == ["乙镇", "西村"] and r1.no_officer
            await typhoons.submit_report(engine, unit_report(event, t2, figures(380, 10, 0, 290)))
            await typhoons.submit_occupancy(engine, occupancy(event, f"{code}-S2", 280))
            await settle(ts_env, client, event)

            # The response ends and the event closes, its round never escalated.
            ending = LevelChange(level=ResponseLevel.NONE, warning=WarningColour.LIFTED, by="x")
            await promptly(lambda uid: typhoons.change_level(client, e, ending, uid), "cb-end")
            closing = CloseTyphoon(by="区防指")
            final = await promptly(lambda uid: typhoons.close(client, e, closing, uid), "cb-close")
            want = await typhoons.board(client, e)
            assert want == final
            assert final.status is TyphoonStatus.CLOSED and final.closed_at is not None
            assert final.level is ResponseLevel.NONE and final.next_round_at is None
            assert [s.code for s in final.shelters] == [f"{code}-S1", f"{code}-S2"]
            assert final.shelter_occupancy == 580 and final.reports_applied == 4
            assert final.district_totals.relocated == 420 + 390 + 15 + 150
            r1 = final.rounds[0]
            assert r1.stage == "reminded" and [u.name for u in r1.missing] == ["乙镇", "西村"]

            # What the console serves, at once.
            got, etag = await served(api, e)
            assert etag == f'"{final.last_seq}"'
            same_board(got, final, "after close")
            found = await typhoon_store.projected_board(engine, e)
            assert found is not None
            same_board(found[1], final, "the store's board after close")

            # A while later, past the console's wait before it asks a silent workflow again.
            monkeypatch.setattr(typhoons, "LIVE_DETAIL_RETRY", 0.1)
            await ts_env.sleep(timedelta(hours=3))
            await asyncio.sleep(0.3)
            same_board(await typhoons.board(client, e), final, "the workflow, later")
            got, etag = await served(api, e)
            assert etag == f'"{final.last_seq}"'
            same_board(got, final, "later")

        # No worker: the same board, from PostgreSQL, and built anew (nothing cached).
        got, _ = await served(api, e)
        same_board(got, final, "no worker")
    typhoons._BOARDS.pop(engine, None)
    async with console(client, engine, task_queue) as fresh:
        got, _ = await served(fresh, e)
        same_board(got, final, "built anew, no worker")


def _board_at(key: typhoon_store.BoardKey) -> TyphoonBoard:
    seq, status, closed_at, batches = key
    return TyphoonBoard(
        event_id="2024:99",
        year=2024,
        number=99,
        name="测试",
        district="区",
        status=TyphoonStatus(status),
        level=ResponseLevel.NONE,
        warning=WarningColour.LIFTED,
        levels=[],
        towns=[],
        district_totals=Totals(),
        peak_sheltered=0,
        peak_at=None,
        batches_applied=batches,
        reports_applied=0,
        closed_at=closed_at,
        last_seq=seq,
    )


async def test_a_view_read_after_the_intake_closed_is_never_one_built_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The intake's close moves the status (and the closing time) before the workflow projects
    its close: a request that saw the event closed, joining a build begun while it was open
    (same event number, same batch), must not be answered with that open board."""
    now: dict[str, typhoon_store.BoardKey] = {"key": (10, "open", None, 5)}
    gate, started = asyncio.Event(), asyncio.Event()

    async def board_key(engine: Any, event_id: str) -> typhoon_store.BoardKey:
        return now["key"]

    async def projected_board(
        engine: Any, event_id: str
    ) -> tuple[typhoon_store.BoardKey, TyphoonBoard]:
        seen = now["key"]  # its snapshot, taken as it begins
        started.set()
        await gate.wait()
        return seen, _board_at(seen)

    async def no_live_detail(self: Any, client: Any, view: TyphoonBoard) -> None:
        return None

    monkeypatch.setattr(typhoon_store, "board_key", board_key)
    monkeypatch.setattr(typhoon_store, "projected_board", projected_board)
    monkeypatch.setattr(typhoons.Boards, "_live_detail", no_live_detail)
    boards = typhoons.Boards()
    first = asyncio.create_task(boards.get(None, None, "2024:99"))  # type: ignore[arg-type]
    await started.wait()
    now["key"] = (10, "closed", datetime(2024, 9, 7, tzinfo=UTC), 5)
    second = asyncio.create_task(boards.get(None, None, "2024:99"))  # type: ignore[arg-type]
    for _ in range(5):  # it reads the key, finds the build under way and waits for it
        await asyncio.sleep(0)
    gate.set()
    early, late = await first, await second
    assert early is not None and late is not None
    assert late.board.status is TyphoonStatus.CLOSED and late.board.closed_at is not None
