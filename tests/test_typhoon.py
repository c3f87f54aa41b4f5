"""Typhoon tallies: supersede, late, duplicate, correction, every bad input, levels and close."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError

from models.typhoon import (
    CloseTyphoon,
    Figures,
    LevelChange,
    ResponseLevel,
    TyphoonBoard,
    TyphoonOpen,
    TyphoonStatus,
    UnitReport,
    WarningColour,
)
from tests.conftest import make_settings
from tests.helpers import eventually, new_event, rows
from yingji.services import typhoon as typhoons
from yingji.stores.typhoon import ReportRejected, add_units

FAST = make_settings(typhoon_apply_min_seconds=0.1, typhoon_apply_max_seconds=0.5)
T0 = datetime(2024, 9, 16, 0, 0, tzinfo=UTC)
_ids = itertools.count()


def report(
    event: TyphoonOpen,
    unit: str,
    hours: float,
    centralized: int,
    dispersed: int = 0,
    pre: int = 0,
    report_id: str | None = None,
    **extra: object,
) -> UnitReport:
    return UnitReport(
        event_id=event.event_id,
        report_id=report_id or f"r{next(_ids)}",
        unit=unit,
        as_of=T0 + timedelta(hours=hours),
        figures=Figures(
            pre_evacuated=pre,
            relocated=centralized + dispersed,
            centralized=centralized,
            dispersed=dispersed,
            shelters_open=1 if centralized else 0,
            sheltered_now=centralized,
        ),
        reported_by=f"{unit}灾害信息员",
        **extra,
    )


def town(district: str, name: str) -> dict:
    return {"code": name, "name": name, "level": "town", "parent_code": None, "district": district}


async def applied(client: Client, event: TyphoonOpen, count: int) -> TyphoonBoard:
    return await eventually(
        lambda: typhoons.board(client, event.event_id), lambda b: b.reports_applied >= count
    )


async def test_latest_report_per_unit_wins_late_and_duplicates_do_not(
    ts_client: Client, engine, task_queue: str
) -> None:
    event = await new_event(engine)
    await typhoons.open_typhoon(ts_client, engine, FAST, event, task_queue=task_queue)
    submit = typhoons.submit_report

    first = await submit(engine, report(event, "南翔镇", 1, 100, 10))
    newer = report(event, "JD-04", 3, 300, 30, report_id="nx-3")  # 南翔镇, by its code
    assert (first.status, (await submit(engine, newer)).status) == ("accepted", "accepted")
    late = await submit(engine, report(event, "南翔镇", 2, 999, 99))
    assert late.status == "late" and "kept on record" in late.message
    assert (await submit(engine, newer)).status == "duplicate"
    await submit(engine, report(event, "安亭镇", 2, 50, 5, pre=20))
    board = await applied(ts_client, event, 4)
    towns = {t.town: t.totals for t in board.towns}  # by code: 南翔镇 is JD-04
    assert (towns["JD-04"].centralized, towns["JD-04"].dispersed) == (300, 30)
    assert board.district_totals.relocated == 330 + 55
    assert board.district_totals.pre_evacuated == 20
    assert board.district_totals.units_reported == 2

    # A correction replaces the figure it corrects, and keeps its reason.
    fix = report(event, "南翔镇", 3, 280, 30, corrects="nx-3", reason="重复统计了20人")
    assert (await submit(engine, fix)).status == "correction"
    board = await applied(ts_client, event, 5)
    assert board.district_totals.relocated == 310 + 55
    # The peak is a fact over the reports' own times, not a running maximum over batches: at
    # hour 2 南翔镇's latest report was the late 999 and 安亭镇's 50; the corrected 300 of hour 3
    # never counts (its correction says 280).
    assert (board.peak_sheltered, board.peak_at) == (999 + 50, T0 + timedelta(hours=2))
    stored = await rows(
        engine,
        "SELECT report_id, status, reason FROM typhoon_report WHERE event_id = :e ORDER BY arrival",
        e=event.event_id,
    )
    assert [r["status"] for r in stored] == [
        "accepted",
        "accepted",
        "late",
        "accepted",
        "correction",
    ]
    assert stored[-1]["reason"] == "重复统计了20人"


async def test_every_bad_report_is_rejected_and_nothing_stored_changes(
    ts_client: Client, engine, task_queue: str
) -> None:
    event = await new_event(engine)
    await typhoons.open_typhoon(ts_client, engine, FAST, event, task_queue=task_queue)
    good = report(event, "马陆镇", 1, 40, 2, report_id="ml-1")
    await typhoons.submit_report(engine, good)

    with pytest.raises(ValidationError, match="centralized"):
        Figures(relocated=-1, centralized=-1)
    with pytest.raises(
        ValidationError, match=r"relocated: 集中 14952 \+ 分散 589 = 15541 ≠ 转移安置 15542"
    ):
        Figures(relocated=15542, centralized=14952, dispersed=589)
    with pytest.raises(ValidationError, match="reason: a correction must say why"):
        report(event, "马陆镇", 1, 40, corrects="ml-1")

    async def rejected(bad: UnitReport) -> str:
        with pytest.raises(ReportRejected) as err:
            await typhoons.submit_report(engine, bad)
        return str(err.value)

    assert "unit: '火星镇' is not a reporting unit of 嘉定区" in await rejected(
        report(event, "火星镇", 1, 1)
    )
    assert "report_id: ml-1 was already used for a different report" in await rejected(
        report(event, "马陆镇", 1, 41, 2, report_id="ml-1")
    )
    assert "corrects: no report nope" in await rejected(
        report(event, "马陆镇", 2, 1, corrects="nope", reason="x")
    )
    assert "corrects: report ml-1 is from JD-06, not JD-07" in await rejected(
        report(event, "徐行镇", 2, 1, corrects="ml-1", reason="x")
    )
    assert "as_of: a correction cannot be older" in await rejected(
        report(event, "马陆镇", 0, 1, corrects="ml-1", reason="x")
    )
    other = await new_event(engine)
    assert f"event_id: no typhoon {other.event_id} is open" in await rejected(
        report(other, "马陆镇", 1, 1)
    )

    stored = await rows(
        engine, "SELECT report_id FROM typhoon_report WHERE event_id = :e", e=event.event_id
    )
    assert stored == [{"report_id": "ml-1"}]
    board = await applied(ts_client, event, 1)
    assert board.district_totals.relocated == 42


async def test_levels_close_and_the_season(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    district = f"测试区{code}"  # its own district, so no other test's typhoon joins its season
    unit = f"城厢镇{code}"  # unit codes are unique across districts
    await add_units(engine, [town(district, unit)])
    bebinca = await new_event(engine, "贝碧嘉", district)
    pulasan = await new_event(engine, "普拉桑", district, year=bebinca.year)
    for event in (bebinca, pulasan):
        await typhoons.open_typhoon(ts_client, engine, FAST, event, task_queue=task_queue)
    e = bebinca.event_id

    board = await typhoons.change_level(
        ts_client, e, LevelChange(level=ResponseLevel.II, warning=WarningColour.ORANGE, by="区防指")
    )
    assert [(x.level, x.warning) for x in board.levels] == [
        (ResponseLevel.IV, WarningColour.BLUE),
        (ResponseLevel.II, WarningColour.ORANGE),
    ]
    assert board.levels[1].at >= board.levels[0].at
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await typhoons.change_level(
            ts_client, e, LevelChange(level=ResponseLevel.II, warning=WarningColour.ORANGE, by="x")
        )
    assert "nothing to change" in str(err.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await typhoons.close(ts_client, e, CloseTyphoon(by="区防指"))
    assert "level: the response is still Ⅱ级" in str(err.value.cause)

    await typhoons.submit_report(engine, report(bebinca, unit, 1, 9000, 1000))
    await typhoons.submit_report(engine, report(pulasan, unit, 1, 500, 74))
    # The warning lifted is not enough: closing needs the response ended (level none).
    await typhoons.change_level(
        ts_client, e, LevelChange(level=ResponseLevel.II, warning=WarningColour.LIFTED, by="区防指")
    )
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await typhoons.close(ts_client, e, CloseTyphoon(by="区防指"))
    assert "level: the response is still Ⅱ级; end it" in str(err.value.cause)
    await typhoons.change_level(
        ts_client,
        e,
        LevelChange(level=ResponseLevel.NONE, warning=WarningColour.LIFTED, by="区防指"),
    )
    final = await typhoons.close(ts_client, e, CloseTyphoon(by="区防指", note="预警解除"))
    assert final.status is TyphoonStatus.CLOSED and final.district_totals.relocated == 10000
    with pytest.raises(ReportRejected, match="is closed; reports are no longer accepted"):
        await typhoons.submit_report(engine, report(bebinca, unit, 2, 1))

    await applied(ts_client, pulasan, 1)
    season = await typhoons.season(engine, bebinca.year, district)
    assert [(s["name"], s["status"], s["relocated"]) for s in season] == sorted(
        [("贝碧嘉", "closed", 10000), ("普拉桑", "open", 574)],
        key=lambda s: {"贝碧嘉": bebinca.number, "普拉桑": pulasan.number}[s[0]],
    )
    assert sum(s["relocated"] for s in season) == 10574
    log = await rows(engine, "SELECT kind FROM typhoon_log WHERE event_id = :e ORDER BY seq", e=e)
    # The first change (Ⅱ级, orange or above) started a 叫应 of the district; each level's
    # actions started once (Ⅳ级 at the opening, Ⅱ级 at the change).
    kinds = [x["kind"] for x in log]
    assert [k for k in kinds if k not in ("instructed", "actions_started")] == [
        "opened",
        "level_changed",
        "call_started",
        "level_changed",
        "level_changed",
        "closed",
    ]
    assert kinds.count("actions_started") == 2 and kinds.count("call_started") == 1


async def test_duplicates_racing_the_apply_never_deadlock(
    ts_client: Client, engine, task_queue: str
) -> None:
    """A duplicate's insert waits for the report row an apply has locked; the apply must never
    wait for the event row the intake holds (it once did: PostgreSQL found the deadlock)."""
    event = await new_event(engine)
    fast = make_settings(typhoon_apply_min_seconds=0.02, typhoon_apply_max_seconds=0.05)
    await typhoons.open_typhoon(ts_client, engine, fast, event, task_queue=task_queue)
    towns = ["JD-01", "JD-02", "JD-03", "JD-04", "JD-05", "JD-06"]  # by code: the fast path
    statuses: list[str] = []
    for hour in range(1, 9):
        batch = [report(event, t, hour, 10 * hour, report_id=f"{t}-{hour}") for t in towns]
        for _ in range(3):  # each report three times, concurrently, while batches apply
            results = await asyncio.gather(*(typhoons.submit_report(engine, r) for r in batch * 3))
            statuses += [r.status for r in results]
    assert statuses.count("accepted") == 8 * len(towns)
    board = await applied(ts_client, event, 8 * len(towns))
    assert board.district_totals.relocated == 80 * len(towns)
