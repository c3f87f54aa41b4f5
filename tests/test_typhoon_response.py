"""A typhoon as the district runs it (issue [5/7]): the response and its actions, instructions
and feedback, shelters and their occupancy, reporting rounds with 未报单位 reminded and
escalated, returns, the response ended, the close. On the time-skipping server."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.officer import OfficerRow
from models.typhoon import (
    ActionKind,
    CloseTyphoon,
    FeedbackInput,
    Figures,
    Hazard,
    InstructionInput,
    LevelChange,
    OccupancyReport,
    ResponseLevel,
    RoundInput,
    ShelterChange,
    TyphoonBoard,
    TyphoonOpen,
    TyphoonStatus,
    UnitReport,
    WarningColour,
)
from tests.conftest import make_settings
from tests.helpers import eventually, new_event, rows
from yingji.services import shelter as shelters
from yingji.services import typhoon as typhoons
from yingji.stores import officer as officer_store
from yingji.stores.overdue import overdue as overdue_list
from yingji.stores.shelter import ShelterError
from yingji.stores.typhoon import ReportRejected, add_units

#: Applies back off to two minutes when quiet, so hours of skipped time stay a short history.
APPLY_MAX = 120
STORM = make_settings(
    typhoon_apply_min_seconds=0.1,
    typhoon_apply_max_seconds=APPLY_MAX,
    typhoon_round_minutes=60,
    typhoon_round_due_minutes=30,
    typhoon_round_remind_minutes=15,
    typhoon_round_escalate_minutes=60,
)
_ids = itertools.count()
T = TypeVar("T")


def district_of(code: str) -> tuple[str, list[dict]]:
    """Three 街镇 and a fourth with two 村居: five reporting units."""
    d = f"风暴区{code}"
    towns = [(f"{code}-T{i}", n) for i, n in enumerate(("甲镇", "乙镇", "丙镇", "丁镇"), 1)]
    units = [
        {"code": c, "name": n, "level": "town", "parent_code": None, "district": d}
        for c, n in towns
    ]
    units += [
        {"code": f"{code}-T4-V{i}", "name": n, "level": "village", "parent_code": f"{code}-T4"}
        | {"district": d}
        for i, n in ((1, "东村"), (2, "西村"))
    ]
    return d, units


def figures(centralized: int, dispersed: int = 0, returned: int = 0, sheltered: int = 0) -> Figures:
    return Figures(
        relocated=centralized + dispersed,
        centralized=centralized,
        dispersed=dispersed,
        returned=returned,
        shelters_open=1 if sheltered else 0,
        sheltered_now=sheltered,
    )


def unit_report(event: TyphoonOpen, unit: str, f: Figures, **extra: object) -> UnitReport:
    return UnitReport(
        event_id=event.event_id,
        report_id=f"s{next(_ids)}",
        unit=unit,
        as_of=datetime.now(UTC) - timedelta(minutes=5),
        figures=f,
        reported_by=f"{unit}信息员",
        **extra,
    )


def occupancy(
    event: TyphoonOpen, shelter: str, people: int, minutes_ago: int = 5
) -> OccupancyReport:
    return OccupancyReport(
        event_id=event.event_id,
        report_id=f"o{next(_ids)}",
        shelter=shelter,
        as_of=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        occupancy=people,
        reported_by="避难点管理员",
    )


async def settle(env: WorkflowEnvironment, client: Client, event: TyphoonOpen) -> TyphoonBoard:
    """Skip to the next apply, then the board with everything sent so far."""
    await env.sleep(timedelta(seconds=APPLY_MAX + 1))
    stored = await rows(
        engine_of[0],
        "SELECT (SELECT count(*) FROM typhoon_report WHERE event_id = :e) AS u, "
        "(SELECT count(*) FROM shelter_report WHERE event_id = :e) AS s",
        e=event.event_id,
    )
    want_u, want_s = stored[0]["u"], stored[0]["s"]
    return await eventually(
        lambda: typhoons.board(client, event.event_id),
        lambda b: b.reports_applied >= want_u and b.shelter_reports_applied >= want_s,
    )


engine_of: list = []


async def promptly(send: Callable[[str], Awaitable[T]], name: str) -> T:
    """Send an update under a fixed id, again if no answer comes within 20 s: on the
    time-skipping server an update that arrives while time is being skipped can be lost (see
    tests/record_histories.py); the same id is applied once."""
    for _ in range(5):
        try:
            return await asyncio.wait_for(send(name), 20)
        except TimeoutError:
            continue
    raise AssertionError(f"update {name} never answered")


async def refused(call: Awaitable[object], match: str) -> None:
    """The update is refused, its reason matching ``match``."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await call
    assert re.search(match, str(err.value.cause)), err.value.cause


async def test_a_storm_from_opening_to_close(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    engine_of[:] = [engine]
    district, units = district_of(code)
    await add_units(engine, units)
    t1, t2, t3, t4 = (f"{code}-T{i}" for i in range(1, 5))
    v1, v2 = f"{code}-T4-V1", f"{code}-T4-V2"
    await officer_store.import_rows(
        engine,
        [
            OfficerRow(unit=v1, role="A", name="东村信息员甲", phone="13900000011"),
            OfficerRow(unit=v1, role="B", name="东村信息员乙", phone="13900000012"),
            OfficerRow(unit=v2, role="A", name="西村信息员甲", phone="13900000021"),
            OfficerRow(unit=t4, role="A", name="丁镇信息员甲", phone="13900000041"),
        ],
        district=district,
    )
    await shelters.import_csv(
        engine,
        "code,name,unit,type,capacity,address\n"
        f"{code}-S1,甲镇文体中心,甲镇,室内,500,甲镇文化路1号\n"
        f"{code}-S2,乙镇中学,{t2},学校,300,乙镇学府路2号\n"
        f"{code}-S3,东村村委会,东村,室内,200,东村1组\n",
        district=district,
    )
    event = await new_event(engine, "贝碧嘉", district)
    await typhoons.open_typhoon(ts_client, engine, STORM, event, task_queue=task_queue)
    e = event.event_id
    board = await eventually(lambda: typhoons.board(ts_client, e), lambda b: b.instructions)
    # Ⅳ级 at the opening started its action: an instruction to the four 街镇.
    assert [(a.level, a.kind) for a in board.actions] == [(ResponseLevel.IV, ActionKind.INSTRUCT)]
    assert board.instructions[0].towns == 4 and board.next_round_at is not None

    # Ⅳ → Ⅱ: Ⅱ级's actions start once (a 叫应, shelters to open, an instruction), whoever
    # retries the request.
    change = LevelChange(level=ResponseLevel.II, warning=WarningColour.ORANGE, by="区防指")
    board = await typhoons.change_level(ts_client, e, change, update_id="storm-level-ii")
    again = await typhoons.change_level(ts_client, e, change, update_id="storm-level-ii")
    assert again.last_seq == board.last_seq
    ii = [a for a in board.actions if a.level is ResponseLevel.II]
    assert [a.kind for a in ii] == [ActionKind.CALL, ActionKind.SHELTERS, ActionKind.INSTRUCT]
    assert ii[0].ref == board.warnings[0] and len(board.warnings) == 1
    assert not ii[1].done  # shelters not opened yet
    i2 = ii[2].ref
    board = await typhoons.feedback(
        ts_client, e, FeedbackInput(instruction=i2, town="甲镇", text="已部署转移", by="甲镇")
    )
    await refused(
        typhoons.feedback(
            ts_client, e, FeedbackInput(instruction=i2, town=t1, text="再报", by="甲镇")
        ),
        "already answered",
    )
    await refused(
        typhoons.feedback(
            ts_client, e, FeedbackInput(instruction="I9", town=t1, text="x", by="甲镇")
        ),
        "instruction: no I9",
    )

    # The instruction's hour passes: the 街镇 that have not answered are overdue; round 1 opens.
    await ts_env.sleep(timedelta(minutes=61))
    board = await typhoons.board(ts_client, e)
    line = next(i for i in board.instructions if i.id == i2)
    assert sorted(line.overdue) == ["丁镇", "丙镇", "乙镇"] and line.answered == 1
    overdue = await rows(
        engine,
        "SELECT overdue FROM typhoon_instruction WHERE event_id = :e AND instruction_id = :i",
        e=e,
        i=i2,
    )
    assert sorted(overdue[0]["overdue"]) == ["丁镇", "丙镇", "乙镇"]
    late = FeedbackInput(instruction=i2, town="乙镇", text="转移完毕", by="乙镇")
    board = await promptly(lambda uid: typhoons.feedback(ts_client, e, late, uid), "storm-fb")
    line = next(i for i in board.instructions if i.id == i2)
    assert line.late == ["乙镇"] and sorted(line.overdue) == ["丁镇", "丙镇"]
    # The duty room's overdue list names each 街镇 still without feedback.
    listed = await eventually(
        lambda: overdue_list(engine),
        lambda found: sum(1 for o in found if o["ref"].startswith(f"{e}:{i2}:")) == 2,
    )
    assert sorted(
        o["name"].split("：")[0] for o in listed if o["ref"].startswith(f"{e}:{i2}:")
    ) == ["丁镇", "丙镇"]
    assert [r.no for r in board.rounds] == [1] and board.rounds[0].units == 5

    # Shelters open (by name or code); occupancy rises; a unit's 在住 is checked against them.
    opening = ShelterChange(shelters=["甲镇文体中心", f"{code}-S2", "东村村委会"], by="值班员")
    board = await promptly(
        lambda uid: typhoons.open_shelters(ts_client, engine, e, opening, uid), "storm-open"
    )
    assert board.shelter_capacity == 1000 and len(board.shelters) == 3
    assert all(a.done for a in board.actions if a.kind is ActionKind.SHELTERS)
    with pytest.raises(ShelterError, match="not a registered shelter"):
        await typhoons.open_shelters(
            ts_client, engine, e, ShelterChange(shelters=["火星避难所"], by="值班员")
        )
    await refused(
        typhoons.open_shelters(
            ts_client, engine, e, ShelterChange(shelters=[f"{code}-S1"], by="值班员")
        ),
        "already open",
    )
    for r in (
        occupancy(event, f"{code}-S1", 120, 30),
        occupancy(event, "甲镇文体中心", 300, 20),
        occupancy(event, f"{code}-S2", 350, 20),  # over its 300: shown, not refused
    ):
        await typhoons.submit_occupancy(engine, r)
    with pytest.raises(ReportRejected, match=r"figures.sheltered_now: 600 in shelters"):
        await typhoons.submit_report(engine, unit_report(event, t1, figures(700, 20, 0, 600)))
    await typhoons.submit_report(engine, unit_report(event, t1, figures(400, 20, 0, 300)))
    await typhoons.submit_report(engine, unit_report(event, t2, figures(380, 10, 0, 290)))
    await typhoons.submit_report(engine, unit_report(event, t3, figures(0, 15)))
    board = await settle(ts_env, ts_client, event)
    s1, s2, _ = board.shelters
    assert (s1.occupancy, s1.capacity, s1.over_capacity) == (300, 500, False)
    assert (s2.occupancy, s2.over_capacity) == (350, True)
    assert board.shelter_occupancy == 650
    # 乙镇 says 290 in shelters, its shelter 350: shown, not refused.
    assert [(m.name, m.sheltered_now, m.occupancy) for m in board.mismatches] == [
        ("乙镇", 290, 350)
    ]

    # Round 1's deadline: 东村 and 西村 have not reported; reminded, then escalated.
    await ts_env.sleep(timedelta(minutes=29))
    board = await typhoons.board(ts_client, e)
    r1 = board.rounds[0]
    assert r1.stage == "due" and r1.reported == 3 and r1.missing_count == 2
    assert [(u.name, u.town) for u in r1.missing] == [("东村", "丁镇"), ("西村", "丁镇")]
    assert all(u.late_minutes is not None and u.late_minutes >= 0 for u in r1.missing)
    await ts_env.sleep(timedelta(minutes=15))
    board = await typhoons.board(ts_client, e)
    assert board.rounds[0].stage == "reminded" and board.rounds[0].reminded == 2
    await ts_env.sleep(timedelta(minutes=45))
    board = await typhoons.board(ts_client, e)
    r1 = board.rounds[0]
    # 东村: its B officer and 丁镇's A; 西村 (no B officer): 丁镇's A.
    assert r1.stage == "escalated" and r1.escalated == 3
    assert [r.no for r in board.rounds] == [1, 2]  # the next round opened on the hour
    sent = await rows(
        engine,
        "SELECT recipient, subject FROM notification WHERE source = :w ORDER BY key",
        w=typhoons.typhoon_workflow_id(e),
    )
    reminders = [n["recipient"] for n in sent if "【催报】" in n["subject"]]
    escalations = [n["recipient"] for n in sent if "【督办】" in n["subject"]]
    assert sorted(reminders) == ["东村信息员甲", "西村信息员甲"]
    assert sorted(escalations) == sorted(["东村信息员乙", "丁镇信息员甲", "丁镇信息员甲"])
    # The live list, from the intake: 东村 reports now, after round 2's deadline (it fell due
    # with round 1's escalation): late for round 2; round 1 still lists it as missing.
    await typhoons.submit_report(engine, unit_report(event, v1, figures(150, 0, 0, 120)))
    live, units_now = await typhoons.round_units(engine, e)
    assert live is not None and live["round_no"] == 2
    assert {u["name"]: u["status"] for u in units_now}["东村"] == "late"
    _, units_then = await typhoons.round_units(engine, e, 1)
    assert sorted(u["name"] for u in units_then if u["status"] == "missing") == ["东村", "西村"]

    # People go home: returns, occupancy falls; 在住 = 安置 − 返回; figures never fall unsaid.
    with pytest.raises(
        ReportRejected, match=r"figures.relocated: 320 is below the unit's latest 420"
    ):
        await typhoons.submit_report(engine, unit_report(event, t1, figures(300, 20, 0, 100)))
    await typhoons.submit_report(engine, unit_report(event, t1, figures(400, 20, 220, 180)))
    await typhoons.submit_occupancy(engine, occupancy(event, f"{code}-S1", 180, 1))
    with pytest.raises(ValidationError, match="returned: 已返回 500 > 紧急转移安置 420"):
        figures_bad = figures(400, 20, 500)
        unit_report(event, t1, figures_bad)
    board = await settle(ts_env, ts_client, event)
    town1 = next(t for t in board.towns if t.town == t1)
    assert (town1.totals.relocated, town1.totals.returned, town1.totals.staying) == (420, 220, 200)
    assert board.shelters[0].occupancy == 180
    assert board.district_totals.staying == board.district_totals.relocated - 220

    # The response ends; closing then works (the warning lifted alone is not enough).
    lifted = LevelChange(level=ResponseLevel.II, warning=WarningColour.LIFTED, by="区防指")
    await promptly(lambda uid: typhoons.change_level(ts_client, e, lifted, uid), "storm-lift")
    await refused(
        typhoons.close(ts_client, e, CloseTyphoon(by="区防指")), "level: the response is still Ⅱ级"
    )
    ended = LevelChange(level=ResponseLevel.NONE, warning=WarningColour.LIFTED, by="区防指")
    board = await promptly(lambda uid: typhoons.change_level(ts_client, e, ended, uid), "storm-end")
    assert board.next_round_at is None
    final = await promptly(
        lambda uid: typhoons.close(ts_client, e, CloseTyphoon(by="区防指"), uid), "storm-close"
    )
    assert (
        final.status is TyphoonStatus.CLOSED
        and final.district_totals.relocated == 420 + 390 + 15 + 150
    )
    with pytest.raises(ReportRejected, match="is closed"):
        await typhoons.submit_occupancy(engine, occupancy(event, f"{code}-S1", 10, 0))
    still_open = await rows(
        engine,
        "SELECT count(*) AS n FROM typhoon_shelter WHERE event_id = :e AND closed_at IS NULL",
        e=e,
    )
    assert still_open == [{"n": 0}]
    kinds = [
        r["kind"]
        for r in await rows(
            engine, "SELECT kind FROM typhoon_log WHERE event_id = :e ORDER BY seq", e=e
        )
    ]
    assert kinds.count("actions_started") == 2 and kinds.count("call_started") == 1
    for kind in (
        "instruction_overdue",
        "feedback",
        "round_opened",
        "round_due",
        "round_remind",
        "round_escalate",
        "shelters_opened",
        "closed",
    ):
        assert kind in kinds, kind


async def test_another_hazard_is_an_event_of_its_own(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    """暴雨 and 寒潮 run the same workflow, keyed event:{year}:{code}, their hazard stored."""
    district, units = district_of(code)
    await add_units(engine, units)
    rain = TyphoonOpen(
        year=2024,
        code=f"RS{code[1:8]}",
        hazard=Hazard.RAINSTORM,
        name="7·21暴雨",
        district=district,
        opened_by="值班员",
        level=ResponseLevel.IV,
        warning=WarningColour.YELLOW,
    )
    handle = await typhoons.open_typhoon(ts_client, engine, STORM, rain, task_queue=task_queue)
    assert handle.id == f"event:2024:RS{code[1:8]}"
    board = await typhoons.board(ts_client, rain.event_id)
    assert (board.hazard, board.code, board.number) == (Hazard.RAINSTORM, rain.code, None)
    stored = await rows(
        engine,
        "SELECT hazard, code, number FROM typhoon_event WHERE event_id = :e",
        e=rain.event_id,
    )
    assert stored == [{"hazard": "rainstorm", "code": rain.code, "number": 0}]
    await typhoons.submit_report(engine, unit_report(rain, f"{code}-T1", figures(10)))
    assert await typhoons.season(engine, 2024, district, "typhoon") == []
    with pytest.raises(ValidationError, match="code: a rainstorm event needs a code"):
        TyphoonOpen(year=2024, hazard=Hazard.RAINSTORM, name="x", district="d", opened_by="a")
    with pytest.raises(ValidationError, match="number: a typhoon needs its national number"):
        TyphoonOpen(year=2024, name="x", district="d", opened_by="a")


async def test_rounds_on_demand_and_instructions_by_hand(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    district, units = district_of(code)
    await add_units(engine, units)
    settings = make_settings(typhoon_round_minutes=0, typhoon_response_actions={})
    event = TyphoonOpen(
        year=2024,
        code=f"HC{code[1:8]}",
        hazard=Hazard.COLD_WAVE,
        name="寒潮",
        district=district,
        opened_by="值班员",
        level=ResponseLevel.IV,
        warning=WarningColour.BLUE,
    )
    await typhoons.open_typhoon(ts_client, engine, settings, event, task_queue=task_queue)
    e = event.event_id
    board = await typhoons.board(ts_client, e)
    assert board.actions == [] and board.next_round_at is None  # no table, no clock
    board = await typhoons.start_round(ts_client, e, RoundInput(by="值班员"))
    assert [r.no for r in board.rounds] == [1]
    await typhoons.submit_report(engine, unit_report(event, f"{code}-T1", figures(5)))
    _, live = await typhoons.round_units(engine, e)
    assert sorted(u["status"] for u in live) == ["missing"] * 4 + ["reported"]
    board = await typhoons.instruct(
        ts_client, e, InstructionInput(text="做好防寒保暖", due_minutes=30, by="区防指")
    )
    assert [i.id for i in board.instructions] == ["I1"] and board.instructions[0].towns == 4
    await refused(
        typhoons.feedback(
            ts_client, e, FeedbackInput(instruction="I1", town="火星镇", text="x", by="y")
        ),
        "town: 火星镇 is not a 街镇",
    )
    # An instruction given "before" its level was set (an attacker's 2020 and 1949) is refused.
    await refused(
        typhoons.instruct(
            ts_client,
            e,
            InstructionInput(
                text="很早", due_minutes=60, by="区防指", at=datetime(2020, 1, 1, tzinfo=UTC)
            ),
        ),
        "at: earlier than the previous step",
    )


async def test_the_shelter_register_refuses_a_bad_file_whole(engine, code: str) -> None:
    district, units = district_of(code)
    await add_units(engine, units)
    good = f"{code}-R1,甲镇避难点,甲镇,室内,100,某路1号\n"
    with pytest.raises(ShelterError) as err:
        await shelters.import_csv(
            engine,
            "code,name,unit,type,capacity,address\n"
            + good
            + f"{code}-R2,乙镇避难点,火星镇,室内,100,某路\n"
            + f"{code}-R3,丙镇避难点,丙镇,室内,-5,某路\n"
            + f"{code}-R1,重复,甲镇,室内,10,某路\n",
            district=district,
        )
    messages = err.value.errors
    assert any(m.startswith("line 3: unit: '火星镇'") for m in messages), messages
    assert any(m.startswith("line 4: capacity") for m in messages), messages
    assert any(m.startswith("line 5: code:") for m in messages), messages
    assert await shelters.list_shelters(engine, district) == []
    result = await shelters.import_csv(
        engine, "code,name,unit,type,capacity,address\n" + good, district=district
    )
    assert (result.created, result.updated) == (1, 0)
    again = await shelters.import_csv(
        engine, "code,name,unit,type,capacity,address\n" + good, district=district
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    listed = await shelters.list_shelters(engine, district, unit="甲镇")
    assert [(s.code, s.town_name, s.capacity) for s in listed] == [(f"{code}-R1", "甲镇", 100)]


async def test_the_cli_runs_a_rainstorm_with_shelters_and_rounds(cli, dev_env, engine) -> None:  # type: ignore[no-untyped-def]
    """The commands of the README's walkthrough, on a 暴雨 event in 嘉定区: the shelter register
    from the example file, shelters opened by name, occupancy, an on-demand round, the board."""
    from tests.test_cli import yingji

    r = await yingji(cli, "unit", "import", "examples/jiading-units.csv")
    assert r.exit_code == 0, r.output
    r = await yingji(cli, "shelter", "import", "examples/jiading-shelters.csv")
    assert r.exit_code == 0 and "unchanged" in r.output, r.output
    r = await yingji(cli, "shelter", "list", "--unit", "南翔镇", "--json")
    assert r.exit_code == 0 and "南翔镇文体中心" in r.output, r.output
    key = f"2031:RS{next(_ids):04d}{datetime.now(UTC):%H%M}"[:16]
    r = await yingji(
        cli,
        "typhoon",
        "open",
        key,
        "--hazard",
        "暴雨",
        "--name",
        "7·21暴雨",
        "--level",
        "IV",
        "--warning",
        "yellow",
        "--by",
        "值班员",
    )
    assert r.exit_code == 0, r.output
    assert "（暴雨，RS" in r.output
    r = await yingji(
        cli, "typhoon", "shelter-open", key, "--shelter", "南翔镇文体中心", "--by", "值班员"
    )
    assert r.exit_code == 0 and "避难场所 1 个开放" in r.output, r.output
    r = await yingji(
        cli,
        "typhoon",
        "occupancy",
        key,
        "--shelter",
        "JD-BN-0401",
        "--report-id",
        f"{key}-o1",
        "--occupancy",
        "420",
        "--by",
        "管理员",
    )
    assert r.exit_code == 0 and "accepted" in r.output, r.output
    r = await yingji(cli, "typhoon", "round", key, "--by", "值班员")
    assert r.exit_code == 0 and "第1轮" in r.output, r.output
    r = await yingji(cli, "typhoon", "rounds", key)
    assert r.exit_code == 0 and "未报 12" in r.output, r.output
    r = await yingji(
        cli,
        "typhoon",
        "feedback",
        key,
        "--instruction",
        "I1",
        "--town",
        "南翔镇",
        "--text",
        "已部署",
        "--by",
        "南翔镇",
    )
    assert r.exit_code == 0 and "已反馈 1/12" in r.output, r.output
    r = await yingji(cli, "typhoon", "close", key, "--by", "区防指")
    assert r.exit_code == 1 and "the response is still Ⅳ级" in r.output, r.output
