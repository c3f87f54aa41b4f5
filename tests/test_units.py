"""The unit register: a district's units are data, imported from CSV and named by code or name.

Every district here is invented (its 街镇 and 村居 are made-up names, not from any place list),
so that nothing passes only because a place is built in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from typer.testing import CliRunner

from models.typhoon import Figures, UnitReport
from models.unit import UnitLevel, UnitRow
from tests.conftest import console_tokens_for, make_settings
from tests.helpers import eventually, new_event, rows
from tests.stack import scratch_database
from yingji.core.db import make_engine, upgrade
from yingji.services import typhoon as typhoons
from yingji.services import unit as units
from yingji.services import warning as warnings
from yingji.stores import officer as roster
from yingji.stores.typhoon import ReportRejected
from yingji.stores.unit import UnitError

HEADER = "code,name,level,parent_code,district\n"


def register_csv(p: str) -> str:
    """An invented city, one district under it, three 街镇 and four 村居; two 村居 share the
    name 新城 under different 街镇."""
    d = f"云溪区{p}"
    return HEADER + "\n".join(
        [
            f"{p}-C,青州市,city,,青州市{p}",
            f"{p}-D,云溪区,district,{p}-C,{d}",
            f"{p}-01,青禾镇,town,{p}-D,{d}",
            f"{p}-02,澄湖街道,town,{p}-D,{d}",
            f"{p}-03,松岭镇,town,{p}-D,{d}",
            f"{p}-01-001,新城,village,{p}-01,{d}",
            f"{p}-01-002,柳塘村,village,{p}-01,{d}",
            f"{p}-02-001,新城,village,{p}-02,{d}",
            f"{p}-02-002,石桥社区,village,{p}-02,{d}",
        ]
    )


async def stored(engine: AsyncEngine, district: str) -> list[tuple[str, str]]:
    return [(u.code, u.name) for u in await units.list_units(engine, district)]


async def refused(engine: AsyncEngine, content: str | bytes) -> list[str]:
    with pytest.raises(UnitError) as caught:
        await units.import_csv(engine, content)
    return caught.value.errors


# -- import --


async def test_every_bad_line_is_reported_at_once_and_nothing_is_written(
    engine: AsyncEngine, code: str
) -> None:
    d = f"试验区{code}"
    bad = HEADER + (
        f"{code}-1,甲镇,town,,{d}\n"  # 2: fine
        f"{code}-2,乙镇,town,,{d}\n"  # 3: fine
        f"{code}-3,丙镇,county,,{d}\n"  # 4: bad level
        f"{code}-4,新村,village,{code}-1,{d}\n"  # 5: fine
        f"{code}-5,新村,village,{code}-1,{d}\n"  # 6: the same name under the same parent
        f"{code}-6,远村,village,{code}-NOPE,{d}\n"  # 7: unknown parent
        f"{code}-7,下村,village,{code}-4,{d}\n"  # 8: a village under a village
        f"{code}-8,上镇,town,{code}-4,{d}\n"  # 9: a town under a village
        f"{'X' * 33},长码镇,town,,{d}\n"  # 10: code too long
        f"{code}-2,乙镇重复,town,,{d}\n"  # 11: a code used twice
        f"{code}-9,{'名' * 65},town,,{d}\n"  # 12: name too long
        f"{code}-10,无区镇,town,,\n"  # 13: no district
        f"{code}-11,他区村,village,{code}-1,别的区{code}\n"  # 14: not in its parent's district
    )
    errors = await refused(engine, bad)
    assert errors == [
        "line 4: level: 'county' is not one of city, district, town, village",
        f"line 6: name: 新村 is already on line 5 under {code}-1",
        f"line 7: parent_code: '{code}-NOPE' is not in the file and not registered",
        f"line 8: parent_code: {code}-4 is a village (村居), not above a village (村居)",
        f"line 9: parent_code: {code}-4 is a village (村居), not above a town (街镇)",
        f"line 10: code: '{'X' * 32}…' is longer than 32 characters",
        f"line 11: code: {code}-2 is already on line 3",
        f"line 12: name: '{'名' * 64}…' is longer than 64 characters",
        "line 13: district: a district is required",
        f"line 14: district: 别的区{code}, but its parent {code}-1 is in {d}",
    ]
    assert await stored(engine, d) == []  # all or nothing

    # A child of a line refused on its own is not reported a second time.
    errors = await refused(
        engine, HEADER + f"{code}-1,甲镇,county,,{d}\n{code}-2,新村,village,{code}-1,{d}\n"
    )
    assert errors == ["line 2: level: 'county' is not one of city, district, town, village"]
    assert await stored(engine, d) == []


async def test_header_encoding_and_bounds(engine: AsyncEngine, code: str) -> None:
    assert await refused(engine, "code,name,level,parent,district\n") == [
        "header: unknown column(s) parent; the columns are code,name,level,parent_code,district"
    ]
    assert await refused(engine, "code,name\nx,y\n") == [
        "header: missing column(s) level, district"
    ]
    assert await refused(engine, HEADER) == ["file: no unit lines under the header"]
    assert await refused(engine, b"") == [
        "header: the first line must name the columns code,name,level,parent_code,district"
    ]
    utf16 = (HEADER + f"{code}-1,甲镇,town,,某区\n").encode("utf-16")
    (message,) = await refused(engine, utf16)
    assert message.startswith("file: not UTF-8 or GBK text")
    too_many = HEADER + "".join(f"{code}-{i},镇{i},town,,某区{code}\n" for i in range(20_001))
    assert await refused(engine, too_many) == [
        "file: more than 20,000 units; split it (at most 20,000 a file)"
    ]
    assert await stored(engine, f"某区{code}") == []
    # Every line is checked on its own first, without a database.
    parsed = units.read_csv(HEADER + f"{code}-1,甲镇,乡,,某区\n{code}-2,乙镇,town,,某区\n")
    assert [r.code for r in parsed.rows] == [f"{code}-2"]
    assert parsed.errors == [(2, "line 2: level: '乡' is not one of city, district, town, village")]


async def test_gbk_and_bom_files_are_read_and_refused_by_line(
    engine: AsyncEngine, code: str
) -> None:
    d = f"编码区{code}"
    body = HEADER + f"{code}-1,甲镇,town,,{d}\n{code}-1-1,上塘村,village,{code}-1,{d}\n"
    result = await units.import_csv(engine, body.encode("gbk"))
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    assert await stored(engine, d) == [(f"{code}-1", "甲镇"), (f"{code}-1-1", "上塘村")]
    # The same file in UTF-8 with the BOM Excel writes: the same units, nothing changes.
    result = await units.import_csv(engine, b"\xef\xbb\xbf" + body.encode("utf-8"))
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)

    # A bad line in a GBK file, and in a BOM file: refused whole, named by its line.
    for encoded in (
        (body + f"{code}-2,乙镇,县,,{d}\n{code}-3,丙镇,town,,{d}\n").encode("gbk"),
        b"\xef\xbb\xbf" + (body + f"{code}-2,乙镇,县,,{d}\n{code}-3,丙镇,town,,{d}\n").encode(),
    ):
        assert await refused(engine, encoded) == [
            "line 4: level: '县' is not one of city, district, town, village"
        ]
    assert len(await stored(engine, d)) == 2  # 丙镇 (line 5, fine) was not written either


async def test_reimport_is_idempotent_and_a_changed_name_updates(
    engine: AsyncEngine, code: str
) -> None:
    d = f"云溪区{code}"
    content = register_csv(code)
    first = await units.import_csv(engine, content)
    assert (first.created, first.updated, first.unchanged) == (9, 0, 0)
    before = await units.list_units(engine, d)
    again = await units.import_csv(engine, content)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 9)
    assert await units.list_units(engine, d) == before

    renamed = content.replace(f"{code}-03,松岭镇,", f"{code}-03,松岭街道,")
    result = await units.import_csv(engine, renamed)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 8)
    assert (f"{code}-03", "松岭街道") in await stored(engine, d)

    # Against what is stored: a second unit under a name its parent already has, an unknown
    # parent (neither in the file nor registered), a parent that is not above.
    errors = await refused(
        engine,
        HEADER + f"{code}-09,青禾镇,town,{code}-D,{d}\n"
        f"{code}-10,远村,village,{code}-99,{d}\n"
        f"{code}-11,下村,village,{code}-01-002,{d}\n",
    )
    assert errors == [
        f"line 2: name: 青禾镇 is already registered under {code}-D as {code}-01",
        f"line 3: parent_code: '{code}-99' is not in the file and not registered",
        f"line 4: parent_code: {code}-01-002 is a village (村居), not above a village (村居)",
    ]
    # Nor may a unit be lowered below what is registered under it.
    assert await refused(engine, HEADER + f"{code}-01,青禾镇,village,{code}-D,{d}\n") == [
        f"line 2: level: {code}-01 would be a village (村居), but the registered "
        f"{code}-01-001, a village (村居), is under it",
        f"line 2: level: {code}-01 would be a village (村居), but the registered "
        f"{code}-01-002, a village (村居), is under it",
    ]
    assert len(await stored(engine, d)) == 8

    # The list, by level, with the parent's name.
    villages = await units.list_units(engine, d, "village")
    assert [(v.code, v.parent_name, v.level_label) for v in villages] == [
        (f"{code}-01-001", "青禾镇", "村居"),
        (f"{code}-01-002", "青禾镇", "村居"),
        (f"{code}-02-001", "澄湖街道", "村居"),
        (f"{code}-02-002", "澄湖街道", "村居"),
    ]
    # Units given as models (not a file) are named by their place in the list.
    with pytest.raises(UnitError) as caught:
        await units.import_units(
            engine,
            [
                UnitRow(
                    code=f"{code}-12",
                    name="新城",
                    level=UnitLevel.VILLAGE,
                    parent_code=f"{code}-01",
                    district=d,
                )
            ],
        )
    assert caught.value.errors == [
        f"units[0]: name: 新城 is already registered under {code}-01 as {code}-01-001"
    ]


async def test_the_unchecked_add_refuses_a_name_twice_rather_than_dropping_it(
    engine: AsyncEngine, code: str
) -> None:
    from yingji.stores.typhoon import add_units

    d = f"快速区{code}"
    town = {
        "code": f"{code}-1",
        "name": "甲镇",
        "level": "town",
        "parent_code": None,
        "district": d,
    }
    assert await add_units(engine, [town]) == 1
    assert await add_units(engine, [town]) == 0  # the same code again: kept as it is
    with pytest.raises(UnitError, match="the name of another registered under the same parent"):
        await add_units(engine, [{**town, "code": f"{code}-2"}])
    with pytest.raises(UnitError, match="a level is not one of"):
        await add_units(engine, [{**town, "code": f"{code}-3", "name": "乙镇", "level": "县"}])
    assert await stored(engine, d) == [(f"{code}-1", "甲镇")]


# -- a name or a code names one unit --


async def test_a_name_or_a_code_resolves_to_one_unit(engine: AsyncEngine, code: str) -> None:
    d = f"云溪区{code}"
    await units.import_csv(engine, register_csv(code))
    assert await units.resolve(engine, d, "柳塘村") == f"{code}-01-002"
    assert await units.resolve(engine, d, f"{code}-01-002") == f"{code}-01-002"
    assert await units.resolve(engine, d, " 松岭镇 ") == f"{code}-03"
    with pytest.raises(UnitError) as caught:
        await units.resolve(engine, d, "新城")
    assert str(caught.value) == (
        f"unit: 新城 is ambiguous: 新城 ({code}-01-001, 属 青禾镇), "
        f"新城 ({code}-02-001, 属 澄湖街道); use the code"
    )
    with pytest.raises(UnitError, match=f"unit: '火星村' is not a registered 街镇/村居 of {d}"):
        await units.resolve(engine, d, "火星村")
    with pytest.raises(UnitError, match="is not a registered"):  # not a unit of another district
        await units.resolve(engine, f"别的区{code}", "柳塘村")


async def test_roster_and_warning_targets_name_units_by_name_or_code(
    engine: AsyncEngine, code: str
) -> None:
    d = f"云溪区{code}"
    await units.import_csv(engine, register_csv(code))
    csv = (
        "unit,role,name,phone\n"
        f"柳塘村,A,林一,13800000001\n"
        f"{code}-01-002,B,林二,13800000002\n"
        f"青禾镇,A,林三,13800000003\n"
        f"{code}-03,A,林四,13800000004\n"
    )
    assert await roster.import_rows(engine, roster.parse_csv(csv), d) == 4
    listed = await roster.list_officers(engine, d)
    assert sorted((r["unit_code"], r["role"], r["name"]) for r in listed) == [
        (f"{code}-01", "A", "林三"),
        (f"{code}-01-002", "A", "林一"),
        (f"{code}-01-002", "B", "林二"),
        (f"{code}-03", "A", "林四"),
    ]
    with pytest.raises(roster.RosterError) as caught:
        await roster.import_rows(
            engine, roster.parse_csv("unit,role,name,phone\n新城,A,某,13800000009\n"), d
        )
    assert caught.value.errors == [
        f"unit: 新城 is ambiguous: 新城 ({code}-01-001, 属 青禾镇), "
        f"新城 ({code}-02-001, 属 澄湖街道); use the code"
    ]
    # Gaps are 街镇 and 村居 only: the city and district rows hold no 信息员.
    gaps = {g.unit_code for g in await roster.gaps(engine, d)}
    assert gaps == {f"{code}-02", f"{code}-01-001", f"{code}-02-001", f"{code}-02-002"}

    by_name = await warnings.targets_from_roster(engine, d, ["柳塘村", "松岭镇"])
    by_code = await warnings.targets_from_roster(engine, d, [f"{code}-01-002", f"{code}-03"])
    assert [(t.unit, t.person.name) for t in by_name] == [
        (f"{code}-01-002", "林一"),
        (f"{code}-03", "林四"),
    ]
    assert by_name == by_code
    with pytest.raises(warnings.NoOneToCall, match="新城 is ambiguous"):
        await warnings.targets_from_roster(engine, d, ["新城"])
    with pytest.raises(warnings.NoOneToCall, match=f"units: not in {d}: 火星村"):
        await warnings.targets_from_roster(engine, d, ["火星村"])


# -- a district that is not Jiading, end to end --


def report(event_id: str, unit: str, report_id: str, hours: int, centralized: int) -> UnitReport:
    return UnitReport(
        event_id=event_id,
        report_id=report_id,
        unit=unit,
        as_of=datetime(2024, 8, 1, tzinfo=UTC) + timedelta(hours=hours),  # a past storm
        figures=Figures(relocated=centralized, centralized=centralized),
        reported_by="信息员",
    )


async def test_an_invented_district_lists_and_reports_by_name_or_code(
    ts_client: Client, engine: AsyncEngine, task_queue: str, code: str
) -> None:
    d = f"云溪区{code}"
    await units.import_csv(engine, register_csv(code).encode("gbk"))
    assert [(u.code, u.level) for u in await units.list_units(engine, d)] == [
        (f"{code}-D", "district"),
        (f"{code}-01", "town"),
        (f"{code}-02", "town"),
        (f"{code}-03", "town"),
        (f"{code}-01-001", "village"),
        (f"{code}-01-002", "village"),
        (f"{code}-02-001", "village"),
        (f"{code}-02-002", "village"),
    ]
    event = await new_event(engine, "云雀", d)
    await typhoons.open_typhoon(
        ts_client, engine, make_settings(typhoon_apply_min_seconds=0.1), event, task_queue
    )
    e = event.event_id
    # The reporting units: the four 村居 and the 街镇 without 村居, under their 街镇.
    registered = await rows(
        engine,
        "SELECT unit_code, town_code FROM typhoon_unit WHERE event_id = :e ORDER BY unit_code",
        e=e,
    )
    assert [(r["unit_code"], r["town_code"]) for r in registered] == [
        (f"{code}-01-001", f"{code}-01"),
        (f"{code}-01-002", f"{code}-01"),
        (f"{code}-02-001", f"{code}-02"),
        (f"{code}-02-002", f"{code}-02"),
        (f"{code}-03", f"{code}-03"),
    ]

    # By name, then by code: the same unit's reports, the later supersedes.
    first = await typhoons.submit_report(engine, report(e, "柳塘村", "lt-1", 1, 100))
    later = await typhoons.submit_report(engine, report(e, f"{code}-01-002", "lt-2", 2, 120))
    assert (first.status, later.status) == ("accepted", "accepted")
    older = await typhoons.submit_report(engine, report(e, "柳塘村", "lt-0", 0, 999))
    assert older.status == "late"  # compared with the reports sent by code
    assert (await typhoons.submit_report(engine, report(e, "柳塘村", "lt-1", 1, 100))).status == (
        "duplicate"
    )
    await typhoons.submit_report(engine, report(e, "松岭镇", "sl-1", 1, 7))
    stored_reports = await rows(
        engine,
        "SELECT report_id, unit_code, town_code FROM typhoon_report WHERE event_id = :e "
        "ORDER BY arrival",
        e=e,
    )
    assert [(r["report_id"], r["unit_code"], r["town_code"]) for r in stored_reports] == [
        ("lt-1", f"{code}-01-002", f"{code}-01"),
        ("lt-2", f"{code}-01-002", f"{code}-01"),
        ("lt-0", f"{code}-01-002", f"{code}-01"),
        ("sl-1", f"{code}-03", f"{code}-03"),
    ]

    with pytest.raises(ReportRejected) as caught:
        await typhoons.submit_report(engine, report(e, "新城", "xc-1", 1, 1))
    assert str(caught.value) == (
        f"unit: 新城 is ambiguous: 新城 ({code}-01-001, 属 青禾镇), "
        f"新城 ({code}-02-001, 属 澄湖街道); use the code"
    )
    with pytest.raises(ReportRejected, match=f"unit: '{code}-01' reports through its 2 村居"):
        await typhoons.submit_report(engine, report(e, "青禾镇", "qh-1", 1, 1))
    with pytest.raises(ReportRejected, match=f"unit: '火星村' is not a reporting unit of {d}"):
        await typhoons.submit_report(engine, report(e, "火星村", "hx-1", 1, 1))

    board = await eventually(lambda: typhoons.board(ts_client, e), lambda b: b.reports_applied >= 4)
    towns = {t.town: t.totals for t in board.towns}
    assert towns[f"{code}-01"].relocated == 120 and towns[f"{code}-03"].relocated == 7
    assert board.district_totals.relocated == 127 and board.district_totals.units_reported == 2
    latest = await rows(
        engine,
        "SELECT unit_code, report_id FROM typhoon_unit_latest WHERE event_id = :e "
        "ORDER BY unit_code",
        e=e,
    )
    assert latest == [
        {"unit_code": f"{code}-01-002", "report_id": "lt-2"},
        {"unit_code": f"{code}-03", "report_id": "sl-1"},
    ]
    from yingji.stores.typhoon import unit_figures

    drill_down = await unit_figures(engine, e, "青禾镇")  # a 街镇 by its name, too
    assert [(u["unit_code"], u["report_id"]) for u in drill_down] == [
        (f"{code}-01-001", None),
        (f"{code}-01-002", "lt-2"),
    ]


# -- the CLI and the console --


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> CliRunner:
    from yingji.core.settings import get_settings

    monkeypatch.setenv("YINGJI_DATABASE_URL", database_url)
    monkeypatch.setenv("YINGJI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def test_unit_commands(cli_env: CliRunner, engine: AsyncEngine, code: str, tmp_path) -> None:
    import json

    from yingji.cli import app

    def yingji(*args: str) -> Any:
        return asyncio.to_thread(cli_env.invoke, app, list(args))

    d = f"云溪区{code}"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        (HEADER + f"{code}-1,甲镇,county,,{d}\n{code}-2,乙村,village,{code}-9,{d}\n").encode("gbk")
    )
    r = await yingji("unit", "import", str(bad))
    assert r.exit_code == 1, r.output
    assert "line 2: level: 'county' is not one of city, district, town, village" in r.output
    assert f"line 3: parent_code: '{code}-9' is not in the file and not registered" in r.output
    assert "2 problem(s)" in r.output and "nothing imported" in r.output

    good = tmp_path / "units.csv"
    good.write_bytes(b"\xef\xbb\xbf" + register_csv(code).encode())
    r = await yingji("unit", "import", str(good))
    assert r.exit_code == 0 and "9 unit(s) created, 0 updated, 0 unchanged" in r.output, r.output
    r = await yingji("unit", "import", str(good))
    assert r.exit_code == 0 and "0 unit(s) created, 0 updated, 9 unchanged" in r.output

    r = await yingji("unit", "list", "--district", d, "--level", "村居", "--json")
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)
    assert [u["name"] for u in listed] == ["新城", "柳塘村", "新城", "石桥社区"]
    r = await yingji("unit", "list", "--district", d)
    assert r.exit_code == 0 and "澄湖街道" in r.output and f"{code}-02 澄湖街道" in r.output
    r = await yingji("unit", "list", "--level", "county")
    assert r.exit_code == 2 and "'county' is not one of" in r.output
    r = await yingji("unit", "import", str(tmp_path / "missing.csv"))
    assert r.exit_code == 2 and "cannot read" in r.output


#: Plain console tokens (at least 32 characters) of a viewer and a duty officer.
V_TOKEN, D_TOKEN = "v-token-0123456789abcdef0123456789", "d-token-0123456789abcdef0123456789"


@pytest.fixture
async def console(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    from yingji.console.app import create_app

    tokens = console_tokens_for({V_TOKEN: "viewer", D_TOKEN: "admin"})
    # The unit routes use no workflow: any object stands in for the Temporal client.
    app = create_app(make_settings(console_tokens=tokens), client=object(), engine=engine)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        yield http


async def test_unit_routes(console: httpx.AsyncClient, code: str) -> None:
    d = f"云溪区{code}"
    viewer = {"Authorization": f"Bearer {V_TOKEN}"}
    officer = {"Authorization": f"Bearer {D_TOKEN}", "Content-Type": "text/csv"}
    body = register_csv(code).encode("gbk")
    r = await console.post(
        "/api/units", content=body, headers={**viewer, "Content-Type": "text/csv"}
    )
    assert r.status_code == 403
    r = await console.post(
        "/api/units",
        content=(HEADER + f"{code}-1,甲镇,county,,{d}\n").encode(),
        headers=officer,
    )
    assert r.status_code == 409
    assert [(e["path"], e["reason"]) for e in r.json()["errors"]] == [
        ("line 2", "level: 'county' is not one of city, district, town, village")
    ]
    r = await console.post("/api/units", content=body, headers=officer)
    assert r.status_code == 200 and r.json() == {"created": 9, "updated": 0, "unchanged": 0}

    r = await console.get("/api/units", params={"district": d, "level": "town"}, headers=viewer)
    assert r.status_code == 200
    assert [(u["code"], u["name"], u["parent_name"]) for u in r.json()] == [
        (f"{code}-01", "青禾镇", "云溪区"),
        (f"{code}-02", "澄湖街道", "云溪区"),
        (f"{code}-03", "松岭镇", "云溪区"),
    ]
    assert (
        await console.get("/api/units", params={"level": "county"}, headers=viewer)
    ).status_code == 422
    assert (await console.get("/api/units")).status_code == 401


async def test_control_characters_in_unit_names_are_refused_not_a_server_error(
    console: httpx.AsyncClient,
) -> None:
    """A NUL in a district filter or in the units of a warning reached PostgreSQL as a 500
    (schemathesis, once names were resolved through the register): now 422, naming the field."""
    viewer = {"Authorization": f"Bearer {V_TOKEN}"}
    officer = {"Authorization": f"Bearer {D_TOKEN}"}
    r = await console.get("/api/units", params={"district": "某区\x00"}, headers=viewer)
    assert r.status_code == 422
    body = {
        "warning_id": "W-NUL",
        "title": "暴雨红色预警",
        "district": "某区",
        "issued_by": "值班员",
        "units": ["甲镇\x00"],
    }
    r = await console.post("/api/warnings", json=body, headers=officer)
    assert r.status_code == 422 and "NUL" in r.text, r.text
    r = await console.post("/api/warnings", json={**body, "units": [""]}, headers=officer)
    assert r.status_code == 422 and "units" in r.text, r.text


# -- migration 0008 --


@pytest.fixture
async def database_at_0007(database_url: str) -> AsyncIterator[str]:
    """A new database migrated to 0007 (before the register), dropped afterwards."""
    async with scratch_database(database_url, "0007") as url:
        yield url


async def test_migration_0008_drops_the_unreferenced_seed_and_keeps_the_referenced(
    database_at_0007: str,
) -> None:
    url = database_at_0007
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            # Rows in the shape 0003 seeded (code = name, a town, no parent), and others.
            await conn.execute(
                text(
                    "INSERT INTO admin_unit (code, name, level, parent_code, district) VALUES "
                    "('甲镇', '甲镇', 'town', NULL, '旧区'),"  # seeded, unreferenced: deleted
                    "('乙镇', '乙镇', 'town', NULL, '旧区'),"  # seeded, an officer's: kept
                    "('丙镇', '丙镇', 'town', NULL, '旧区'),"  # seeded, in a disaster report: kept
                    "('丁镇', '丁镇', 'town', NULL, '旧区'),"  # seeded, has a 村居: kept
                    "('丁镇-1', '丁镇-1', 'village', '丁镇', '旧区'),"  # not a town: kept
                    "('OLD-02', '乙镇', 'town', NULL, '旧区'),"  # imported twin of 乙镇
                    "('OLD-05', '戊镇', 'town', NULL, '旧区')"  # code is not its name: kept
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO officer (unit_code, role, name, phone, active, updated_at) "
                    "VALUES ('乙镇', 'A', '某', '13800000000', true, now())"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO disaster (code, workflow_id, name, hazard, district, "
                    "occurred_at, closed, reports, late_reports, last_seq) VALUES "
                    "('D1', 'd:D1', 'x', '台风', '旧区', now(), true, 1, 0, 1)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO disaster_report (disaster_code, report_id, kind, slot, as_of, "
                    "submitted_at, late, status, indicators, towns, review_reason) VALUES "
                    "('D1', 'R1', 'initial', 's', now(), now(), false, 'passed', '{}', "
                    """'[{"town": "丙镇", "indicators": {}}]', '')"""
                )
            )
        await asyncio.to_thread(upgrade, url, "0008")
        after = await rows(engine, "SELECT code, name FROM admin_unit ORDER BY code")
        assert {r["code"]: r["name"] for r in after} == {
            "乙镇": "乙镇（乙镇）",  # kept, renamed: its imported twin keeps the name
            "丙镇": "丙镇",
            "丁镇": "丁镇",
            "丁镇-1": "丁镇-1",
            "OLD-02": "乙镇",
            "OLD-05": "戊镇",
        }
        # The register's rules now hold in the database too.
        for bad in (
            "('X1', '戊镇', 'town', NULL, '旧区')",  # a second 戊镇 at the top of 旧区
            "('X2', '丁镇-1', 'village', '丁镇', '旧区')",  # a second 丁镇-1 under 丁镇
            "('X3', '某县', 'county', NULL, '旧区')",  # not a level
        ):
            with pytest.raises(Exception, match=r"ux_admin_unit_name|ck_admin_unit_level"):
                async with engine.begin() as conn:
                    await conn.execute(
                        text(
                            "INSERT INTO admin_unit (code, name, level, parent_code, district) "
                            f"VALUES {bad}"
                        )
                    )
    finally:
        await engine.dispose()


async def test_a_scenarios_units_are_checked_like_an_import(engine, code: str) -> None:
    """`units:` in a scenario went straight into the register: two villages each other's parent,
    a town under a town, a control character, a code with a space were all stored, and
    `load --check` called the file valid. Now they are read as register lines and imported
    through the same checks: refused whole, by place, nothing written."""
    from yingji import loader as scenario

    bad_code = f"""
scenario: units
units:
  - {{code: "{code} 5", name: 甲镇, level: town, district: 某区{code}}}
"""
    with pytest.raises(scenario.ScenarioError, match=r"units\.0\.code: .*must not contain spaces"):
        scenario.parse(bad_code)
    cycle = f"""
scenario: units
units:
  - {{code: {code}-1, name: 甲村, level: village, parent_code: {code}-2, district: 某区{code}}}
  - {{code: {code}-2, name: 乙村, level: village, parent_code: {code}-1, district: 某区{code}}}
"""
    parsed = scenario.parse(cycle)
    with pytest.raises(scenario.ScenarioError, match=r"^units: refused: "):
        await scenario.load(object(), engine, make_settings(), parsed)  # type: ignore[arg-type]
    async with engine.connect() as conn:
        stored = await conn.execute(
            text("SELECT count(*) FROM admin_unit WHERE code LIKE :c"), {"c": f"{code}-%"}
        )
        assert stored.scalar() == 0
