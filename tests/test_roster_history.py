"""The officer roster keeps its history, and a year's figures count the roster of that year; a
past 叫应 ends once the scenario's answers are in, whoever did not answer being 未叫醒."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from models.warning import AckInput, CallStatus, WarningIssue
from tests.conftest import bureau_env
from tests.stack import MEIHUA, database_state, fresh_stack, scratch_database
from worker import build_worker
from yingji import loader as scenario
from yingji.cli import app
from yingji.core.db import alembic_config, make_engine, upgrade
from yingji.core.settings import get_settings
from yingji.services import warning as warnings
from yingji.stores import officer as roster
from yingji.stores import summary as summary_store
from yingji.stores.typhoon import add_units


async def towns(engine: AsyncEngine, district: str, prefix: str, n: int) -> list[str]:
    codes = [f"{prefix}-T{i}" for i in range(1, n + 1)]
    await add_units(
        engine,
        [
            {"code": c, "name": c, "level": "town", "parent_code": None, "district": district}
            for c in codes
        ],
    )
    return codes


async def stored(engine: AsyncEngine, district: str) -> list[dict[str, Any]]:
    """Every row of the district's roster history, with when it was written."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT o.* FROM officer o JOIN admin_unit u ON u.code = o.unit_code "
                "WHERE u.district = :d ORDER BY o.unit_code, o.role, o.name, o.valid_from"
            ),
            {"d": district},
        )
        return [dict(r) for r in result.mappings()]


def spans(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["unit_code"][-2:], r["role"], r["name"], r["phone"], r["valid_from"], r["valid_to"])
        for r in history
    ]


def listed(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(r["unit_code"][-2:], r["role"], r["name"], r["phone"]) for r in rows]


V1 = """unit,role,name,phone
{p}-T1,A,王强,13800000001
{p}-T1,B,李娜,13800000002
{p}-T2,A,赵敏,13800000003
{p}-T3,A,孙离,13800000004
"""
# 王强's phone changed, 赵敏 moved from A to B, 孙离 left.
V2 = """unit,role,name,phone
{p}-T1,A,王强,13900000001
{p}-T1,B,李娜,13800000002
{p}-T2,B,赵敏,13800000003
"""
D1, D2 = date(2024, 3, 1), date(2024, 6, 1)


async def test_a_reimport_closes_the_gone_and_versions_the_changed(
    engine: AsyncEngine, code: str
) -> None:
    district = f"名册史区{code}"
    await towns(engine, district, code, 3)
    assert await roster.import_rows(engine, roster.parse_csv(V1.format(p=code)), on=D1) == 4
    first = await stored(engine, district)
    # The same file again, the same day or months later: nothing is written.
    await roster.import_rows(engine, roster.parse_csv(V1.format(p=code)), on=D1)
    await roster.import_rows(engine, roster.parse_csv(V1.format(p=code)), on=date(2024, 5, 1))
    assert await stored(engine, district) == first

    await roster.import_rows(engine, roster.parse_csv(V2.format(p=code)), on=D2)
    second = await stored(engine, district)
    assert spans(second) == [
        ("T1", "A", "王强", "13800000001", D1, D2),  # the old phone, closed
        ("T1", "A", "王强", "13900000001", D2, None),  # the new one, open
        ("T1", "B", "李娜", "13800000002", D1, None),  # unchanged: the same row
        ("T2", "A", "赵敏", "13800000003", D1, D2),  # as A until the change of role
        ("T2", "B", "赵敏", "13800000003", D2, None),
        ("T3", "A", "孙离", "13800000004", D1, D2),  # gone from the file: closed on its day
    ]
    unchanged = next(r for r in second if r["name"] == "李娜")
    assert unchanged == next(r for r in first if r["name"] == "李娜")  # not even rewritten
    # The same file twice changes nothing.
    await roster.import_rows(engine, roster.parse_csv(V2.format(p=code)), on=D2)
    await roster.import_rows(engine, roster.parse_csv(V2.format(p=code)), on=date(2024, 7, 1))
    assert await stored(engine, district) == second

    # The roster on a day: before the first import nobody, then V1, then V2 (and today V2).
    assert await roster.list_officers(engine, district, date(2024, 2, 29)) == []
    before = await roster.list_officers(engine, district, date(2024, 5, 31))
    assert listed(before) == [
        ("T1", "A", "王强", "13800000001"),
        ("T1", "B", "李娜", "13800000002"),
        ("T2", "A", "赵敏", "13800000003"),
        ("T3", "A", "孙离", "13800000004"),
    ]
    after = [
        ("T1", "A", "王强", "13900000001"),
        ("T1", "B", "李娜", "13800000002"),
        ("T2", "B", "赵敏", "13800000003"),
    ]
    assert listed(await roster.list_officers(engine, district, D2)) == after
    assert listed(await roster.list_officers(engine, district)) == after

    async def gaps(day: date | None) -> set[tuple[str, str]]:
        return {(g.unit_code[-2:], g.missing) for g in await roster.gaps(engine, district, day)}

    assert await gaps(date(2024, 2, 29)) == {
        ("T1", "A and B"),
        ("T2", "A and B"),
        ("T3", "A and B"),
    }
    assert await gaps(date(2024, 5, 31)) == set()
    assert await gaps(D2) == await gaps(None) == {("T2", "A"), ("T3", "A and B")}

    # A file with a valid_from column: its day is that date, not the import's.
    v3 = f"unit,role,name,phone,valid_from\n{code}-T1,A,王强,13900000001,2024-09-01\n"
    await roster.import_rows(engine, roster.parse_csv(v3), on=date(2024, 10, 15))
    september = date(2024, 9, 1)
    assert spans(await stored(engine, district)) == [
        ("T1", "A", "王强", "13800000001", D1, D2),
        ("T1", "A", "王强", "13900000001", D2, None),  # in the file, unchanged
        ("T1", "B", "李娜", "13800000002", D1, september),  # not in it: closed on its day
        ("T2", "A", "赵敏", "13800000003", D1, D2),
        ("T2", "B", "赵敏", "13800000003", D2, september),
        ("T3", "A", "孙离", "13800000004", D1, D2),  # closed before: left alone
    ]
    assert listed(await roster.list_officers(engine, district)) == after[:1]


async def test_roster_lines_are_checked_whole(engine: AsyncEngine, code: str) -> None:
    district = f"名册查区{code}"
    await towns(engine, district, code, 1)
    with pytest.raises(roster.RosterError) as err:
        roster.parse_csv(
            "unit,role,name,phone,valid_from,valid_to\n"
            f"{code}-T1,A,甲,13800000001,2024-13-01,\n"
            f"{code}-T1,B,乙,13800000002,2024-05-01,2024-05-01\n"
        )
    assert err.value.errors[0].startswith("line 2: valid_from: ")
    assert err.value.errors[1] == "line 3: valid_to: 2024-05-01 is not after valid_from 2024-05-01"
    # Ending before the import's day, with no start of its own: refused, nothing written.
    late = roster.parse_csv(
        f"unit,role,name,phone,valid_to\n{code}-T1,A,甲,13800000001,2024-01-01\n"
    )
    with pytest.raises(roster.RosterError, match="valid_to: 2024-01-01 is not after"):
        await roster.import_rows(engine, late, on=date(2024, 3, 1))
    assert await stored(engine, district) == []


def past_roster(code: str, towns_: list[str], phone: str = "1380000") -> str:
    lines = [f"{t},A,{t}甲,{phone}{i:04d},2022-01-01" for i, t in enumerate(towns_)]
    return "unit,role,name,phone,valid_from\n" + "\n".join(lines) + "\n"


async def test_a_year_counts_the_roster_of_that_year(engine: AsyncEngine, code: str) -> None:
    district = f"往年区{code}"
    units = await towns(engine, district, code, 10)
    # 2022: the A officers of five 街镇, from the start of the year (a past roster, loaded).
    roster_2022 = roster.parse_csv(past_roster(code, units[:5]))
    await roster.import_rows(engine, roster_2022, on=date(2026, 11, 1))
    # 2024: the roster as imported that spring: the five and ten more (every 街镇 an A and B).
    lines = [f"{t},A,{t}甲,1380000{i:04d}" for i, t in enumerate(units)]
    lines += [f"{t},B,{t}乙,1390000{i:04d}" for i, t in enumerate(units[:5])]
    roster_2024 = roster.parse_csv("unit,role,name,phone\n" + "\n".join(lines) + "\n")
    assert len(roster_2024) == 15
    await roster.import_rows(engine, roster_2024, on=date(2024, 3, 1))

    async def figures(year: int) -> tuple[int, int, int]:
        f = await summary_store.figures(engine, year, district)
        return f.officers, f.officer_units, f.officer_gaps

    assert await figures(2021) == (0, 0, 10)
    assert await figures(2022) == (5, 5, 5)
    assert await figures(2023) == (5, 5, 5)
    assert await figures(2024) == (15, 10, 0)

    # Loading the 2022 roster again, after 2024's: nothing changes, 2024 keeps its fifteen.
    history = await stored(engine, district)
    await roster.import_rows(engine, roster_2022)
    assert await stored(engine, district) == history
    # A 2021 roster loaded last fills in the past and leaves the later rosters alone: the one
    # officer it names served from 2021 (one row, extended), nobody else is closed.
    older = past_roster(code, units[:1]).replace("2022-01-01", "2021-01-01")
    await roster.import_rows(engine, roster.parse_csv(older))
    assert await figures(2021) == (1, 1, 9)
    assert await figures(2022) == (5, 5, 5)
    assert await figures(2024) == (15, 10, 0)
    first = [r for r in await stored(engine, district) if r["unit_code"] == units[0]]
    assert [(r["role"], r["valid_from"], r["valid_to"]) for r in first] == [
        ("A", date(2021, 1, 1), None),
        ("B", date(2024, 3, 1), None),
    ]


async def test_a_past_roster_loaded_after_a_later_one_stays_in_its_past(
    engine: AsyncEngine, code: str
) -> None:
    """The order that used to go wrong: 2024's roster first, then 2022's loaded (rerunning 2024
    then counted both). 2022's officers serve until the next roster (2024's), not today."""
    district = f"先后区{code}"
    units = await towns(engine, district, code, 12)
    lines = [f"{t},A,{t}甲,1380000{i:04d}" for i, t in enumerate(units[:5])]
    lines.append(f"{units[0]},B,{units[0]}乙,13900000000")
    csv_2024 = "unit,role,name,phone\n" + "\n".join(lines) + "\n"
    await roster.import_rows(engine, roster.parse_csv(csv_2024), on=date(2024, 3, 1))

    async def figures(year: int) -> tuple[int, int, int]:
        f = await summary_store.figures(engine, year, district)
        return f.officers, f.officer_units, f.officer_gaps

    assert await figures(2024) == (6, 5, 7)
    # 2022: every 街镇 an A and a B, other people, but for the first 街镇's A.
    old = [f"{t},A,{t}甲,1380000{i:04d},2022-01-01" for i, t in enumerate(units[:1])]
    old += [f"{t},A,{t}老甲,1370000{i:04d},2022-01-01" for i, t in enumerate(units) if i]
    old += [f"{t},B,{t}老乙,1360000{i:04d},2022-01-01" for i, t in enumerate(units)]
    csv_2022 = roster.parse_csv("unit,role,name,phone,valid_from\n" + "\n".join(old) + "\n")
    assert len(csv_2022) == 24
    await roster.import_rows(engine, csv_2022)
    assert await figures(2022) == (24, 12, 0)
    assert await figures(2023) == (24, 12, 0)  # the 2022 roster until 2024's
    assert await figures(2024) == (6, 5, 7)  # as before the load
    assert len(await roster.list_officers(engine, district)) == 6
    history = await stored(engine, district)
    first_a = [r for r in history if r["unit_code"] == units[0] and r["role"] == "A"]
    assert [(r["name"], r["valid_from"], r["valid_to"]) for r in first_a] == [
        (f"{units[0]}甲", date(2022, 1, 1), None),  # one officer throughout: one row
    ]
    others = {(r["valid_from"], r["valid_to"]) for r in history if "老" in r["name"]}
    assert others == {(date(2022, 1, 1), date(2024, 3, 1))}
    await roster.import_rows(engine, csv_2022)  # loading it again changes nothing
    assert await stored(engine, district) == history


async def test_the_cli_shows_the_roster_of_a_day(
    engine: AsyncEngine,
    database_url: str,
    code: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    district = f"命令史区{code}"
    await towns(engine, district, code, 2)
    for name, value in {**bureau_env(), "YINGJI_DATABASE_URL": database_url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("YINGJI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()

    async def yingji(*args: str) -> str:
        result = await asyncio.to_thread(runner.invoke, app, list(args))
        return f"{result.exit_code}: {result.output}"

    try:
        file = tmp_path / "roster.csv"
        file.write_text(
            f"unit,role,name,phone,valid_from\n{code}-T1,A,王强,13800000001,2023-01-01\n",
            encoding="utf-8",
        )
        assert (await yingji("officer", "import", str(file))).startswith("0: imported 1")
        where = ("--district", district)
        before = await yingji("officer", "list", *where, "--as-of", "2022-12-31")
        assert before.startswith("0: ") and "(0)" in before and "王强" not in before
        since = await yingji("officer", "list", *where, "--as-of", "2023-01-01")
        assert "王强" in since and "2023-01-01" in since
        assert "王强" in await yingji("officer", "list", *where)  # today
        gaps = await yingji("officer", "gaps", *where, "--as-of", "2022-12-31")
        assert f"{code}-T1" in gaps and f"{code}-T2" in gaps and "2022-12-31" in gaps
        gaps = await yingji("officer", "gaps", *where)
        assert f"{code}-T1" not in gaps and f"{code}-T2" in gaps
        bad = await yingji("officer", "list", *where, "--as-of", "2023-02-30")
        assert bad.startswith("2: ") and "--as-of" in bad and "not a date" in bad
    finally:
        get_settings.cache_clear()


PAST_WARNING = """
scenario: past-warning
units:
  - {{code: {p}-01, name: 往事一镇, level: town, district: {d}}}
  - {{code: {p}-02, name: 往事二镇, level: town, district: {d}}}
officers:
  - {{unit: {p}-01, role: A, name: 一镇信息员, phone: 021-5990-0001, valid_from: 2023-01-01}}
  - {{unit: {p}-02, role: A, name: 二镇信息员, phone: 021-5990-0002, valid_from: 2023-01-01}}
warnings:
  - warning_id: {p}-W
    title: 暴雨橙色预警叫应
    district: {d}
    issued_by: 区防汛指挥部办公室
    issued_at: '2023-07-28T10:00:00+08:00'
    acks:
      - {{person: 一镇信息员, at: '2023-07-28T10:02:00+08:00'}}
"""


async def test_a_past_warning_ends_when_its_answers_are_in(database_url: str) -> None:
    p = f"PW{uuid.uuid4().hex[:6]}"
    district = "往事区"
    async with fresh_stack(database_url) as stack:
        async with build_worker(stack.client, stack.settings, stack.engine, stack.task_queue):
            # Today's roster (since 2024) names other people: the 2023 warning, loaded after it,
            # calls the roster of its own day.
            await add_units(
                stack.engine,
                [
                    {
                        "code": f"{p}-0{i}",
                        "name": name,
                        "level": "town",
                        "parent_code": None,
                        "district": district,
                    }
                    for i, name in ((1, "往事一镇"), (2, "往事二镇"))
                ],
            )
            later = (
                f"unit,role,name,phone\n{p}-01,A,一镇新人,13800000011\n"
                f"{p}-02,A,二镇新人,13800000012\n"
            )
            await roster.import_rows(stack.engine, roster.parse_csv(later), on=date(2024, 3, 1))
            file = scenario.parse(PAST_WARNING.format(p=p, d=district))
            report = await scenario.load(stack.client, stack.engine, stack.settings, file)
            assert report.created == {"warnings": 1}
            view = await warnings.warning_handle(stack.client, f"{p}-W").result()
            assert view.finished
            assert {c.person: c.status for c in view.calls} == {
                "一镇信息员": CallStatus.ANSWERED,
                "二镇信息员": CallStatus.NOT_REACHED,  # 未叫醒, not 叫应中
            }
            assert (view.answered, view.not_reached, view.call_response_rate) == (1, 1, 0.5)
            silent = next(c for c in view.calls if c.person == "二镇信息员")
            assert (
                silent.acked_at is None and silent.attempts == stack.settings.warning_call_attempts
            )
            assert silent.escalated_at is not None
            assert silent.escalated_at.isoformat() == "2023-07-28T10:05:00+08:00"  # window end
            async with stack.engine.connect() as conn:
                row = (
                    await conn.execute(
                        text("SELECT finished, not_reached FROM warning WHERE warning_id = :w"),
                        {"w": f"{p}-W"},
                    )
                ).one()
                calls = (
                    await conn.execute(
                        text("SELECT person, status FROM warning_call WHERE warning_id = :w"),
                        {"w": f"{p}-W"},
                    )
                ).all()
            assert tuple(row) == (True, 1)
            assert sorted(map(tuple, calls)) == [
                ("一镇信息员", "answered"),
                ("二镇信息员", "not_reached"),
            ]
            # Loading it again: the warning has ended, nothing is sent, nothing changes.
            before = await database_state(stack.engine, stack.started)
            again = await scenario.load(stack.client, stack.engine, stack.settings, file)
            assert again.created == {} and again.existing == {"warnings": 1}
            assert await database_state(stack.engine, stack.started) == before

            # The 梅花 example's 叫应 (12 people, 10 answered in the window, one after 未叫醒,
            # one by the B officer): every one answered, so it ended by itself, 2 未叫醒.
            meihua = scenario.read(MEIHUA)
            only = meihua.model_copy(
                update={"plans": [], "drills": [], "typhoons": [], "disasters": []}
            )
            await scenario.load(stack.client, stack.engine, stack.settings, only)
            call = await warnings.warning_handle(stack.client, "JD-2022-0913-TFCS").result()
            assert call.finished and call.targets == 12 and call.answered == 10
            assert call.not_reached == 2
            assert CallStatus.CALLING not in {c.status for c in call.calls}

            # A live warning is not a record of the past: end_history changes nothing.
            targets = await warnings.targets_from_roster(stack.engine, district)
            live = WarningIssue(
                warning_id=f"{p}-LIVE",
                title="暴雨红色预警",
                district=district,
                issued_by="区防指",
                targets=targets,
            )
            await warnings.issue_warning(stack.client, stack.settings, live)
            ended = await warnings.end_history(stack.client, live.warning_id)
            assert not ended.finished
            assert {c.status for c in ended.calls} == {CallStatus.CALLING}
            assert [t.person.name for t in targets] == ["一镇新人", "二镇新人"]  # today's roster
            for person in ("一镇新人", "二镇新人"):
                await warnings.acknowledge(stack.client, live.warning_id, AckInput(person=person))
            done = await warnings.warning_handle(stack.client, live.warning_id).result()
            assert done.finished and done.answered == 2


@pytest.fixture
async def database_at_0009(database_url: str) -> AsyncIterator[str]:
    """A new database migrated to 0009 (before officers had a history), dropped afterwards."""
    async with scratch_database(database_url, "0009") as url:
        yield url


async def test_migration_0010_dates_the_rows_it_finds(database_at_0009: str) -> None:
    engine = make_engine(database_at_0009)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO admin_unit (code, name, level, district) "
                    "VALUES ('M-1', 'M-1', 'town', '迁移区')"
                )
            )
            # 23:30 UTC is the next day in China: the row's day is China's.
            await conn.execute(
                text(
                    "INSERT INTO officer (unit_code, role, name, phone, active, updated_at) VALUES "
                    "('M-1', 'A', '在岗', '13800000001', true, '2025-03-01T23:30:00+00:00'),"
                    "('M-1', 'B', '离岗', '13900000002', false, '2025-03-05T02:00:00+00:00')"
                )
            )
        await asyncio.to_thread(upgrade, database_at_0009, "0010")
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    text("SELECT name, valid_from, valid_to FROM officer ORDER BY role")
                )
            ).all()
        assert [tuple(r) for r in found] == [
            ("在岗", date(2025, 3, 2), None),
            ("离岗", date(2025, 3, 5), date(2025, 3, 5)),  # on no day's roster
        ]
        assert await roster.list_officers(engine, "迁移区") == [
            {
                "unit_code": "M-1",
                "unit_name": "M-1",
                "level": "town",
                "role": "A",
                "name": "在岗",
                "phone": "13800000001",
                "email": None,
                "active": True,
                "valid_from": date(2025, 3, 2),
                "valid_to": None,
            }
        ]
        # The days of those rows were import days: an earlier roster loaded now ends there.
        async with engine.connect() as conn:
            days = (await conn.execute(text("SELECT district, day FROM officer_roster_day"))).all()
        assert sorted(map(tuple, days)) == [
            ("迁移区", date(2025, 3, 2)),
            ("迁移区", date(2025, 3, 5)),
        ]
        past = "unit,role,name,phone,valid_from\nM-1,A,旧人,13700000001,2025-01-01\n"
        await roster.import_rows(engine, roster.parse_csv(past))
        # An import on a later day keeps the active row; the inactive one is replaced.
        csv = "unit,role,name,phone,active\nM-1,A,在岗,13800000001,是\nM-1,B,离岗,13900000002,否\n"
        await roster.import_rows(engine, roster.parse_csv(csv), on=date(2025, 4, 1))
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    text(
                        "SELECT name, active, valid_from, valid_to FROM officer "
                        "ORDER BY valid_from, role"
                    )
                )
            ).all()
        assert [tuple(r) for r in found] == [
            ("旧人", True, date(2025, 1, 1), date(2025, 3, 2)),
            ("在岗", True, date(2025, 3, 2), None),
            ("离岗", False, date(2025, 4, 1), None),
        ]
        # Downgrading keeps one row per officer: today's, or else the latest (not serving).
        await engine.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config(database_at_0009), "0009")
        async with engine.connect() as conn:
            found = (
                await conn.execute(text("SELECT name, active FROM officer ORDER BY role, name"))
            ).all()
        assert [tuple(r) for r in found] == [("在岗", True), ("旧人", False), ("离岗", False)]
    finally:
        await engine.dispose()
