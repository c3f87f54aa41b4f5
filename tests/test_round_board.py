"""A reporting round on the console's board is live (the workflow checks a round only at its
deadline, reminder and escalation; the board carries the intake's counts between them), and a
round past its deadline with units 未报 is on the duty room's 逾期事项. On the time-skipping
server."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from models.common import CHINA_TZ
from models.typhoon import RoundInput, RoundRecord, RoundUnit
from tests.conftest import make_settings
from tests.helpers import eventually, new_event
from tests.test_console_reads import V, auth, console, served
from tests.test_typhoon_response import (
    APPLY_MAX,
    district_of,
    engine_of,
    figures,
    promptly,
    settle,
    unit_report,
)
from yingji.services import typhoon as typhoons
from yingji.stores.typhoon import add_units

#: Rounds on demand only, due in 30 minutes, reminded 15 minutes after, escalated an hour after.
ROUNDS = make_settings(
    typhoon_apply_min_seconds=0.1,
    typhoon_apply_max_seconds=APPLY_MAX,
    typhoon_round_minutes=0,
    typhoon_round_due_minutes=30,
    typhoon_round_remind_minutes=15,
    typhoon_round_escalate_minutes=60,
)


async def overdue_rounds(api: Any, event_id: str) -> list[dict[str, Any]]:
    r = await api.get("/api/overdue", headers=auth(V))
    assert r.status_code == 200, r.text
    return [o for o in r.json() if o["kind"] == "round_missing" and o["ref"].startswith(event_id)]


async def test_the_board_counts_a_round_live_and_the_duty_room_lists_it_overdue(
    ts_env: WorkflowEnvironment, engine: Any, task_queue: str, code: str
) -> None:
    from worker import build_worker

    engine_of[:] = [engine]
    client = ts_env.client
    district, units = district_of(code)
    await add_units(engine, units)
    t1, t2 = f"{code}-T1", f"{code}-T2"
    event = await new_event(engine, "南翔", district)
    e = event.event_id
    year, number = e.split(":")
    async with console(client, engine, task_queue) as api:
        async with build_worker(client, ROUNDS, engine, task_queue):
            await typhoons.open_typhoon(client, engine, ROUNDS, event, task_queue=task_queue)
            await eventually(lambda: typhoons.board(client, e), lambda b: b.instructions)
            start = RoundInput(by="值班员")
            board = await promptly(lambda uid: typhoons.start_round(client, e, start, uid), "rb-r")
            assert [r.no for r in board.rounds] == [1] and board.rounds[0].stage == "open"
            got, _ = await served(api, e)
            assert got.rounds[0].reported == 0 and got.rounds[0].missing_count == 5

            # 甲镇 reports before the deadline: once the batch is applied, the board counts it
            # (the workflow's own record still says 0 until its check at the deadline).
            await typhoons.submit_report(engine, unit_report(event, t1, figures(40)))
            want = await settle(ts_env, client, event)
            assert want.rounds[0].stage == "open" and want.rounds[0].reported == 0
            got, etag = await served(api, e)
            r1 = got.rounds[0]
            assert (r1.stage, r1.units, r1.reported, r1.missing_count) == ("open", 5, 1, 4)
            assert t1 not in {u.code for u in r1.missing} and len(r1.missing) == 4
            assert r1.late == [] and etag == f'"{got.last_seq}"'
            assert got.model_dump(exclude={"rounds"}) == want.model_dump(exclude={"rounds"})
            # … as the live list of the round says.
            r = await api.get(f"/api/typhoons/{year}/{number}/rounds?round=1", headers=auth(V))
            live = r.json()["units"]
            assert sum(u["status"] != "missing" for u in live) == 1
            assert {u["unit_code"] for u in live if u["status"] == "missing"} == {
                u.code for u in r1.missing
            }
            assert await overdue_rounds(api, e) == []  # not due yet

            # The deadline passes with four units 未报: the duty room lists the round.
            await ts_env.sleep(timedelta(minutes=31))
            due = await eventually(
                lambda: typhoons.board(client, e), lambda b: b.rounds[0].stage == "due"
            )
            assert due.rounds[0].missing_count == 4
            listed = await eventually(lambda: overdue_rounds(api, e), lambda found: found)
            assert listed == [
                {
                    "kind": "round_missing",
                    "ref": f"{e}:1",
                    "name": "第1轮：乙镇、丙镇、丁镇东村 等 4 个未报",
                    "due": due.rounds[0].due_at.astimezone(CHINA_TZ).date().isoformat(),
                }
            ]

            # 乙镇 reports late: the board counts it as late at once (the workflow only at its
            # reminder), and the duty room's row drops it.
            await typhoons.submit_report(engine, unit_report(event, t2, figures(30)))
            await settle(ts_env, client, event)
            got, _ = await served(api, e)
            r1 = got.rounds[0]
            assert (r1.stage, r1.reported, r1.missing_count) == ("due", 2, 3)
            assert [u.code for u in r1.late] == [t2]
            assert all(u.late_minutes == due.rounds[0].missing[0].late_minutes for u in r1.missing)
            [row] = await overdue_rounds(api, e)
            assert row["name"] == "第1轮：丙镇、丁镇东村、丁镇西村 等 3 个未报"

            # The reminder: the workflow's record has caught up, the board is the same.
            await ts_env.sleep(timedelta(minutes=16))
            want = await eventually(
                lambda: typhoons.board(client, e), lambda b: b.rounds[0].stage == "reminded"
            )
            got = await eventually(
                lambda: served(api, e), lambda found: found[0].rounds[0].stage == "reminded"
            )
            assert got[0].rounds == want.rounds

            # Timing: the board as 200 viewers read it, and 20 builds of it (each with the
            # round counted from the intake).
            started = time.perf_counter()
            for _ in range(200):
                await served(api, e)
            reads = (time.perf_counter() - started) / 200
            boards = typhoons._BOARDS[engine]
            started = time.perf_counter()
            for _ in range(20):
                boards._built.pop(e, None)
                await served(api, e)
            builds = (time.perf_counter() - started) / 20
            print(f"\nboard read {reads * 1000:.2f} ms, built {builds * 1000:.2f} ms (mean)")


def _round(no: int, stage: str, reported: int, checked: bool = True) -> RoundRecord:
    at = datetime(2024, 9, 6, 8, tzinfo=UTC) + timedelta(hours=no)
    return RoundRecord(
        no=no,
        opened_at=at,
        due_at=at + timedelta(minutes=30),
        by="值班员",
        units=5,
        reported=reported,
        missing_count=5 - reported,
        stage=stage,
        checked_at=at + timedelta(minutes=45) if checked else None,
    )


@pytest.mark.parametrize("ahead", [False, True])
def test_only_rounds_that_can_change_take_the_intakes_counts(ahead: bool) -> None:
    """A round checked as the next one opened is final (the workflow's record); the latest,
    and one the workflow never checked, take the projection's counts and lists, with the
    workflow's stage and lateness; the workflow's records (cached for later builds) are not
    changed. ``ahead``: the workflow has opened a round the projection has not seen yet."""
    checked = [_round(1, "escalated", 2), _round(2, "open", 0, False), _round(3, "due", 1)]
    mine = [_round(1, "escalated", 4), _round(2, "open", 3, False), _round(3, "open", 3, False)]
    mine[2].missing = [RoundUnit(code="c", name="丙镇", late_minutes=0)]
    mine[2].late = [RoundUnit(code="b", name="乙镇")]
    if ahead:  # round 3 checked (final) as round 4 opened
        checked = [*checked[:2], _round(3, "reminded", 1), _round(4, "open", 0, False)]
    before = [r.model_copy(deep=True) for r in checked]
    got = typhoons._with_live_counts(checked, mine)
    assert checked == before
    assert got[0] == checked[0]  # final: the workflow's, whatever the intake says now
    assert (got[1].reported, got[1].missing_count, got[1].stage) == (3, 2, "open")
    if ahead:
        assert got[2:] == checked[2:]
        return
    assert (got[2].stage, got[2].reported, got[2].missing_count) == ("due", 3, 2)
    assert got[2].checked_at == checked[2].checked_at
    assert [u.name for u in got[2].late] == ["乙镇"]
    assert [(u.name, u.late_minutes) for u in got[2].missing] == [("丙镇", 15)]
