"""The register of responsible people (防汛防台责任人): CSV import, gaps and the call chains of
叫应, apart from the officer roster (灾害信息员).

Every district, unit, person and phone here is invented.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from models.responsible import CallChain, ResponsibleRow
from tests.conftest import console_tokens_for, make_settings
from tests.stack import scratch_database
from yingji.core.db import alembic_config, make_engine
from yingji.services import responsible as people
from yingji.services import unit as units
from yingji.stores import officer as roster
from yingji.stores.responsible import ResponsibleError

HEADER = "unit,role,name,phone,order\n"
UNITS = "code,name,level,parent_code,district\n"
LEAD, DEPUTY, VILLAGE = "党政主要负责人", "分管负责人", "村(社区)负责人"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_UNITS = (EXAMPLES / "jiading-units.csv").read_bytes()
EXAMPLE_PEOPLE = (EXAMPLES / "jiading-responsible.csv").read_bytes()


def district_of(p: str) -> str:
    return f"云溪区{p}"


async def register(engine: AsyncEngine, p: str) -> str:
    """An invented district: its own unit, three 街镇 and four 村居; two 村居 share the name 新城
    under different 街镇. Returns the district's name."""
    d = district_of(p)
    await units.import_csv(
        engine,
        UNITS
        + "\n".join(
            [
                f"{p}-D,云溪区,district,,{d}",
                f"{p}-01,青禾镇,town,{p}-D,{d}",
                f"{p}-02,澄湖街道,town,{p}-D,{d}",
                f"{p}-03,松岭镇,town,{p}-D,{d}",
                f"{p}-01-001,新城,village,{p}-01,{d}",
                f"{p}-01-002,柳塘村,village,{p}-01,{d}",
                f"{p}-02-001,新城,village,{p}-02,{d}",
                f"{p}-02-002,石桥社区,village,{p}-02,{d}",
            ]
        ),
    )
    return d


def people_csv(p: str) -> str:
    """The 街镇 by name, the 村居 by code (新城 is two 村居), the district lead."""
    return HEADER + (
        f"{p}-D,区级责任人,区长甲,13800001000,1\n"
        f"青禾镇,{LEAD},周建国,138-0000-1011,1\n"
        f"青禾镇,{DEPUTY},朱永刚,138 0000 1012,2\n"
        f"澄湖街道,{LEAD},吴海燕,13800001021,1\n"
        f"澄湖街道,{DEPUTY},秦玉兰,13800001022,2\n"
        f"{p}-01-001,{VILLAGE},郑村长,13800001111,1\n"
        f"{p}-01-001,{VILLAGE},王副,13800001112,2\n"
        f"柳塘村,{VILLAGE},许德明,+8613800001121,1\n"
        f"{p}-02-001,{VILLAGE},何雪芳,13800001211,1\n"
    )


async def load(engine: AsyncEngine, d: str, content: str | bytes, replace: bool = False) -> Any:
    """Import into district ``d`` (names are looked up there: every test's district has its
    青禾镇)."""
    return await people.import_csv(engine, content, replace=replace, district=d)


async def refused(
    engine: AsyncEngine, d: str, content: str | bytes, replace: bool = False
) -> list[str]:
    with pytest.raises(ResponsibleError) as caught:
        await load(engine, d, content, replace)
    return caught.value.errors


async def listed(engine: AsyncEngine, d: str, **kw: Any) -> list[tuple[str, str, str, int]]:
    return [
        (x.unit_code, x.role, x.name, x.order) for x in await people.list_people(engine, d, **kw)
    ]


def chain_view(chains: list[CallChain]) -> list[tuple[Any, ...]]:
    return [
        (c.unit_code, c.town_name, c.role, [(x.name, x.order) for x in c.persons]) for c in chains
    ]


# -- import --


async def test_utf8_gbk_and_bom_files_import_the_same_people(
    engine: AsyncEngine, code: str
) -> None:
    d = await register(engine, code)
    content = people_csv(code)
    first = await load(engine, d, content.encode("gbk"))
    assert (first.created, first.updated, first.unchanged, first.deleted) == (9, 0, 0, 0)
    # The same file in UTF-8 with the BOM Excel writes, and without: nothing changes.
    for encoded in (b"\xef\xbb\xbf" + content.encode(), content.encode(), content):
        again = await load(engine, d, encoded)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 9)

    found = await people.list_people(engine, d)
    # Phones are stored normalized; the id is unit:role:phone.
    zhou = next(x for x in found if x.name == "周建国")
    assert (zhou.phone, zhou.person_id) == ("13800001011", f"{code}-01:{LEAD}:13800001011")
    assert (zhou.unit_name, zhou.level, zhou.town_code, zhou.town_name, zhou.district) == (
        "青禾镇",
        "town",
        f"{code}-01",
        "青禾镇",
        d,
    )
    assert next(x for x in found if x.name == "朱永刚").phone == "13800001012"
    assert next(x for x in found if x.name == "许德明").phone == "+8613800001121"
    # A 村居 carries its 街镇; the district lead none. Top down: district, 街镇, 村居.
    assert [(x.unit_code, x.town_name, x.name) for x in found] == [
        (f"{code}-D", None, "区长甲"),
        (f"{code}-01", "青禾镇", "周建国"),  # the role of the lowest order first
        (f"{code}-01", "青禾镇", "朱永刚"),
        (f"{code}-02", "澄湖街道", "吴海燕"),
        (f"{code}-02", "澄湖街道", "秦玉兰"),
        (f"{code}-01-001", "青禾镇", "郑村长"),
        (f"{code}-01-001", "青禾镇", "王副"),
        (f"{code}-01-002", "青禾镇", "许德明"),
        (f"{code}-02-001", "澄湖街道", "何雪芳"),
    ]
    # A changed name or order updates the person.
    renamed = content.replace("周建国", "周建华")
    result = await load(engine, d, renamed)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 8)

    # The filters: a 街镇 lists itself and its 村居; a level; a unit by name or code.
    assert {x[0] for x in await listed(engine, d, unit="青禾镇")} == {
        f"{code}-01",
        f"{code}-01-001",
        f"{code}-01-002",
    }
    assert {x[0] for x in await listed(engine, d, level="村居")} == {
        f"{code}-01-001",
        f"{code}-01-002",
        f"{code}-02-001",
    }
    assert await listed(engine, d, unit=f"{code}-01-001", level="village") == [
        (f"{code}-01-001", VILLAGE, "郑村长", 1),
        (f"{code}-01-001", VILLAGE, "王副", 2),
    ]
    with pytest.raises(ResponsibleError, match="新城 is ambiguous"):
        await people.list_people(engine, d, unit="新城")
    with pytest.raises(ResponsibleError, match="'乡' is not one of"):
        await people.list_people(engine, d, level="乡")


async def test_every_bad_line_is_reported_with_its_number_and_nothing_is_written(
    engine: AsyncEngine, code: str
) -> None:
    d = await register(engine, code)
    bad = HEADER + (
        f"青禾镇,{LEAD},周建国,13800001011,1\n"  # 2: fine
        f"青禾镇,{DEPUTY},朱永刚,call-me,2\n"  # 3: phone
        f"澄湖街道,{LEAD},吴海燕,13800001021,0\n"  # 4: order 0
        f"澄湖街道,{DEPUTY},秦玉兰,13800001022,二\n"  # 5: order not a number
        f"松岭镇,{LEAD},,13800001031,1\n"  # 6: no name
        f"松岭镇,a:b,某人,13800001032,1\n"  # 7: ':' in the role
        f"白云镇,{LEAD},某人,13800001033,1\n"  # 8: no such unit
        f"新城,{VILLAGE},某人,13800001034,1\n"  # 9: ambiguous
        f"{code}-01,{LEAD},周建国,138-0000-1011,3\n"  # 10: line 2's person again (by code)
        f"青禾镇,{LEAD},另一人,13800001019,1\n"  # 11: line 2's order
        f"青禾镇,{LEAD},某人,13800001018,2,多余\n"  # 12: too many fields
        f"柳塘村,{VILLAGE},{'名' * 101},13800001035,1\n"  # 13: name too long
        f"柳塘村,{'职' * 51},某人,13800001036,1\n"  # 14: role too long
    )
    errors = await refused(engine, d, bad)
    assert errors == [
        "line 3: phone: 'call-me' is not a phone number: 5 to 20 digits, an optional leading + "
        "(spaces and hyphens are ignored)",
        "line 4: order: must be at least 1",
        "line 5: order: '二' is not a whole number 1 to 9",
        "line 6: name: a name is required",
        "line 7: role: 'a:b' must not contain ':' (it separates a person's id)",
        f"line 8: unit: '白云镇' is not a registered unit of {d}",
        f"line 9: unit: 新城 is ambiguous: 新城 ({code}-01-001, 属 青禾镇), "
        f"新城 ({code}-02-001, 属 澄湖街道); use the code",
        f"line 10: 青禾镇 ({code}-01) {LEAD} 13800001011 is already on line 2",
        f"line 11: order: 1 of 青禾镇 ({code}-01) {LEAD} is already 周建国 on line 2",
        "line 12: has 6 fields; the header has 5",
        f"line 13: name: '{'名' * 100}…' is longer than 100 characters",
        f"line 14: role: '{'职' * 50}…' is longer than 50 characters",
    ]
    assert await listed(engine, d) == []  # all or nothing: line 2 was not written either

    # The header, the encoding and the size are refused at once.
    assert await refused(engine, d, "unit,role,name,phone\nx,y,z,13800000000\n") == [
        "header: missing column(s) order"
    ]
    assert await refused(engine, d, "unit,role,name,phone,order,email\n") == [
        "header: unknown column(s) email; the columns are unit,role,name,phone,order"
    ]
    assert await refused(engine, d, HEADER) == ["file: no lines under the header"]
    assert await refused(engine, d, b"") == [
        "header: the first line must name the columns unit,role,name,phone,order"
    ]
    (message,) = await refused(engine, d, (HEADER + "青禾镇,x,y,13800000000,1\n").encode("utf-16"))
    assert message.startswith("file: not UTF-8 or GBK text")
    too_many = HEADER + "".join(f"青禾镇,r{i},某人,138{i:08d},1\n" for i in range(20_001))
    assert await refused(engine, d, too_many) == [
        "file: more than 20,000 people; split it (at most 20,000 a file)"
    ]
    # A GBK file with a bad line, and a BOM file: named by its line.
    for encoded in (
        (HEADER + f"青禾镇,{LEAD},周建国,13800001011,1\n青禾镇,{DEPUTY},某,12,2\n").encode("gbk"),
        b"\xef\xbb\xbf"
        + (HEADER + f"青禾镇,{LEAD},周建国,13800001011,1\n青禾镇,x,某,1,9\n").encode(),
    ):
        (message,) = await refused(engine, d, encoded)
        assert message.startswith("line 3: phone: ")
    assert await listed(engine, d) == []
    # Checked on its own first, without a database.
    parsed = people.read_csv(HEADER + "青禾镇,x,y,13800000000,10\n青禾镇,x,y,13800000000,1\n")
    assert [r.order for r in parsed.rows] == [1]
    assert parsed.errors == [(2, "line 2: order: must be at most 9")]
    # Full-width digits (an IME's) are digits.
    row = ResponsibleRow(
        unit="青禾镇", role="x", name="y", phone="１３８００００００００", order="１"
    )
    assert (row.phone, row.order) == ("13800000000", 1)


async def test_a_unit_by_name_or_code_and_one_name_in_two_towns_is_two_people(
    engine: AsyncEngine, code: str
) -> None:
    d = await register(engine, code)
    # 新城 names two 村居: by code each is its own. 张伟 of 青禾镇 and 张伟 of 澄湖街道 (even with
    # one phone) are two people.
    result = await load(
        engine,
        d,
        HEADER + f"{code}-01-001,{VILLAGE},新城甲,13800002001,1\n"
        f"{code}-02-001,{VILLAGE},新城乙,13800002002,1\n"
        f"青禾镇,{DEPUTY},张伟,13800002003,1\n"
        f"{code}-02,{DEPUTY},张伟,13800002003,1\n",
    )
    assert result.created == 4
    zhang = [x for x in await people.list_people(engine, d) if x.name == "张伟"]
    assert [(x.unit_name, x.person_id) for x in zhang] == [
        ("青禾镇", f"{code}-01:{DEPUTY}:13800002003"),
        ("澄湖街道", f"{code}-02:{DEPUTY}:13800002003"),
    ]
    xincheng = [x for x in await people.list_people(engine, d, level="village")]
    assert [(x.unit_code, x.town_name, x.name) for x in xincheng] == [
        (f"{code}-01-001", "青禾镇", "新城甲"),
        (f"{code}-02-001", "澄湖街道", "新城乙"),
    ]
    # A unit named once by its name and once by its code is one unit.
    errors = await refused(
        engine,
        d,
        HEADER + f"松岭镇,{LEAD},甲,13800002011,1\n{code}-03,{LEAD},乙,13800002012,1\n",
    )
    assert errors == [f"line 3: order: 1 of 松岭镇 ({code}-03) {LEAD} is already 甲 on line 2"]


async def test_an_order_held_by_someone_else_and_replace(engine: AsyncEngine, code: str) -> None:
    d = await register(engine, code)
    await load(engine, d, people_csv(code))

    # A new 党政主要负责人 of 青禾镇 (another phone: another person) cannot be first while the
    # stored one is, unless the stored one is in the file with another order, or replaced.
    newcomer = HEADER + f"青禾镇,{LEAD},新书记,13900001011,1\n"
    assert await refused(engine, d, newcomer) == [
        f"line 2: order: 1 of 青禾镇 ({code}-01) {LEAD} is already 周建国 (13800001011), who is "
        "not in the file; give one of them another order, or replace the unit's people "
        "(--replace, ?replace=true)"
    ]
    # Two people swap their orders in one file (the constraint holds at the statement's end).
    swap = HEADER + (
        f"澄湖街道,{LEAD},吴海燕,13800001021,2\n澄湖街道,{LEAD},新书记,13900001021,1\n"
        f"澄湖街道,{DEPUTY},秦玉兰,13800001022,1\n"
    )
    result = await load(engine, d, swap)
    assert (result.created, result.updated, result.unchanged, result.deleted) == (1, 2, 0, 0)
    swap_back = swap.replace(",2\n澄湖街道,", ",1\n澄湖街道,", 1).replace(
        "新书记,13900001021,1", "新书记,13900001021,2"
    )
    result = await load(engine, d, swap_back)
    assert (result.created, result.updated, result.unchanged) == (0, 2, 1)
    assert await listed(engine, d, unit="澄湖街道", level="town") == [
        (f"{code}-02", LEAD, "吴海燕", 1),
        (f"{code}-02", LEAD, "新书记", 2),
        (f"{code}-02", DEPUTY, "秦玉兰", 1),  # both roles start at 1: by name
    ]

    # --replace: the file is the whole list of its units; other units are left alone.
    result = await load(engine, d, newcomer, replace=True)
    assert (result.created, result.updated, result.unchanged, result.deleted) == (1, 0, 0, 2)
    assert await listed(engine, d, unit="青禾镇", level="town") == [
        (f"{code}-01", LEAD, "新书记", 1)
    ]
    assert len(await listed(engine, d, unit="澄湖街道")) == 4  # untouched
    assert len(await listed(engine, d, level="village")) == 4
    again = await load(engine, d, newcomer, replace=True)
    assert (again.created, again.updated, again.unchanged, again.deleted) == (0, 0, 1, 0)
    # A refused replace deletes nothing.
    assert len(await refused(engine, d, newcomer + "青禾镇,x,y,bad,1\n", replace=True)) == 1
    assert len(await listed(engine, d, unit="青禾镇", level="town")) == 1


# -- gaps and call chains --


async def test_gaps_name_the_units_with_nobody_to_call_first(
    engine: AsyncEngine, code: str
) -> None:
    d = await register(engine, code)
    await load(
        engine,
        d,
        people_csv(code) + f"松岭镇,{DEPUTY},只有备岗,13800001032,2\n",
    )
    towns = await people.gaps(engine, d, "town")
    assert [(g.unit_code, g.unit_name, g.people) for g in towns] == [(f"{code}-03", "松岭镇", 1)]
    villages = await people.gaps(engine, d, "村居")
    assert [(g.unit_code, g.unit_name, g.town_name, g.people) for g in villages] == [
        (f"{code}-02-002", "石桥社区", "澄湖街道", 0)
    ]
    assert await people.gaps(engine, d, "district") == []
    assert await people.gaps(engine, d, "village", units=["青禾镇"]) == []
    with pytest.raises(ResponsibleError, match="'city' is not one of district, town, village"):
        await people.gaps(engine, d, "city")


async def test_call_chains_for_a_town_and_a_village_warning(engine: AsyncEngine, code: str) -> None:
    d = await register(engine, code)
    await load(engine, d, people_csv(code))

    towns = await people.call_chains(engine, d, "town")
    assert chain_view(towns) == [
        (f"{code}-01", "青禾镇", LEAD, [("周建国", 1)]),
        (f"{code}-01", "青禾镇", DEPUTY, [("朱永刚", 2)]),
        (f"{code}-02", "澄湖街道", LEAD, [("吴海燕", 1)]),
        (f"{code}-02", "澄湖街道", DEPUTY, [("秦玉兰", 2)]),
    ]  # 松岭镇 has nobody: not a chain (a gap)
    assert towns[0].town_code == f"{code}-01" and towns[0].level == "town"
    assert towns[0].persons[0].phone == "13800001011"

    villages = await people.call_chains(engine, d, "village")
    assert chain_view(villages) == [
        (f"{code}-01-001", "青禾镇", VILLAGE, [("郑村长", 1), ("王副", 2)]),
        (f"{code}-01-002", "青禾镇", VILLAGE, [("许德明", 1)]),
        (f"{code}-02-001", "澄湖街道", VILLAGE, [("何雪芳", 1)]),
    ]
    assert {c.town_code for c in villages} == {f"{code}-01", f"{code}-02"}
    # A 街镇 named for a village-level warning means its 村居; a 村居 by code; a name.
    assert [c.unit_code for c in await people.call_chains(engine, d, "village", ["澄湖街道"])] == [
        f"{code}-02-001"
    ]
    picked = await people.call_chains(engine, d, "village", [f"{code}-01-002", "澄湖街道"])
    assert [c.unit_code for c in picked] == [f"{code}-01-002", f"{code}-02-001"]
    assert [c.unit_code for c in await people.call_chains(engine, d, "town", ["云溪区"])] == [
        f"{code}-01",
        f"{code}-01",
        f"{code}-02",
        f"{code}-02",
    ]
    district = await people.call_chains(engine, d, "district")
    assert chain_view(district) == [(f"{code}-D", None, "区级责任人", [("区长甲", 1)])]

    with pytest.raises(ResponsibleError) as caught:
        await people.call_chains(engine, d, "town", [f"{code}-01-001"])
    assert caught.value.errors == [
        f"unit: 新城 ({code}-01-001) is a village (村居), below the town (街镇) units called"
    ]
    with pytest.raises(ResponsibleError) as caught:
        await people.call_chains(engine, d, "village", ["松岭镇"])
    assert caught.value.errors == [
        f"unit: 松岭镇 ({code}-03) has no village (村居) registered at or under it"
    ]
    with pytest.raises(ResponsibleError, match="新城 is ambiguous"):
        await people.call_chains(engine, d, "village", ["新城"])
    with pytest.raises(ResponsibleError, match="'白云镇' is not a registered unit of"):
        await people.call_chains(engine, d, "village", ["白云镇"])
    with pytest.raises(ResponsibleError, match="who: 'all' is not one of"):
        await people.call_chains(engine, d, "town", who="all")


async def test_call_chains_with_the_officer_roster(engine: AsyncEngine, code: str) -> None:
    d = await register(engine, code)
    await load(engine, d, people_csv(code))
    await roster.import_rows(
        engine,
        roster.parse_csv(
            "unit,role,name,phone,active\n"
            f"{code}-01,A,青禾信息员甲,139-0000-0011,是\n"
            f"{code}-01,B,青禾信息员乙,13900000012,是\n"
            f"{code}-03,B,松岭信息员乙,13900000032,是\n"
            f"{code}-02,A,澄湖离岗,13900000021,否\n"
        ),
    )
    officers = await people.call_chains(engine, d, "town", who="officer")
    assert chain_view(officers) == [
        (f"{code}-01", "青禾镇", "灾害信息员", [("青禾信息员甲", 1), ("青禾信息员乙", 2)]),
        (f"{code}-03", "松岭镇", "灾害信息员", [("松岭信息员乙", 2)]),
    ]
    first = officers[0].persons[0]
    assert (first.source, first.person_id, first.phone, first.updated_at) == (
        "officer",
        f"{code}-01:灾害信息员:13900000011",  # the roster's hyphens dropped, as the register does
        "13900000011",
        None,
    )
    both = await people.call_chains(engine, d, "town", who="both")
    assert [(c.unit_code, c.role) for c in both] == [
        (f"{code}-01", LEAD),
        (f"{code}-01", DEPUTY),
        (f"{code}-01", "灾害信息员"),
        (f"{code}-02", LEAD),
        (f"{code}-02", DEPUTY),
        (f"{code}-03", "灾害信息员"),
    ]
    # 松岭镇's only officer is a B: nobody to call first.
    assert [g.unit_code for g in await people.gaps(engine, d, "town", who="both")] == [f"{code}-03"]
    assert [g.unit_code for g in await people.gaps(engine, d, "town", who="officer")] == [
        f"{code}-02",
        f"{code}-03",
    ]
    # A register role named like the roster's joins its chain; one person is called once.
    await load(engine, d, HEADER + "松岭镇,灾害信息员,松岭信息员乙,13900000032,1\n")
    (songling,) = await people.call_chains(engine, d, "town", [f"{code}-03"], who="both")
    assert [(x.name, x.order, x.source) for x in songling.persons] == [
        ("松岭信息员乙", 1, "responsible")
    ]


async def test_ten_thousand_people_import_and_chain(engine: AsyncEngine, code: str) -> None:
    """100 街镇 of 50 村居 each, two people per unit: 10,200 people in one file."""
    d = district_of(code)
    lines = [f"{code}-D,大区,district,,{d}"]
    body = []
    for t in range(100):
        town = f"{code}-{t:03d}"
        lines.append(f"{town},镇{t},town,{code}-D,{d}")
        body += [
            f"{town},{LEAD},镇长{t},139{t:04d}0001,1",
            f"{town},{DEPUTY},副{t},139{t:04d}0002,2",
        ]
        for v in range(50):
            village = f"{town}-{v:02d}"
            lines.append(f"{village},村{t}-{v},village,{town},{d}")
            body += [
                f"{village},{VILLAGE},村长{t}-{v},138{t:04d}{v:02d}01,1",
                f"{village},{VILLAGE},副村长{t}-{v},138{t:04d}{v:02d}02,2",
            ]
    await units.import_csv(engine, UNITS + "\n".join(lines))
    content = HEADER + "\n".join(body)
    started = time.perf_counter()
    result = await load(engine, d, content)
    imported = time.perf_counter()
    assert result.created == 10_200
    again = await load(engine, d, content)
    assert again.unchanged == 10_200
    reimported = time.perf_counter()
    villages = await people.call_chains(engine, d, "village")
    chained = time.perf_counter()
    assert len(villages) == 5_000
    assert sum(len(c.persons) for c in villages) == 10_000
    assert all(c.town_code == c.unit_code[: len(code) + 4] for c in villages)
    towns = await people.call_chains(engine, d, "town", who="both")
    assert len(towns) == 200
    some = await people.call_chains(engine, d, "village", [f"{code}-007", f"{code}-042"])
    assert len(some) == 100
    listed_all = await people.list_people(engine, d)
    assert len(listed_all) == 10_200
    assert await people.gaps(engine, d, "village") == []
    print(
        f"\n10,200 people: import {imported - started:.2f}s, re-import "
        f"{reimported - imported:.2f}s, 5,000 village chains {chained - reimported:.2f}s, "
        f"list {time.perf_counter() - chained:.2f}s (with towns and a narrowed set)"
    )


async def test_the_example_file_covers_the_example_districts_towns(engine: AsyncEngine) -> None:
    await units.import_csv(engine, EXAMPLE_UNITS)
    result = await people.import_csv(engine, EXAMPLE_PEOPLE, district="嘉定区")
    assert result.created + result.unchanged == 24  # idempotent: another test may load it too
    towns = [f"JD-{i:02d}" for i in range(1, 13)]
    chains = await people.call_chains(engine, "嘉定区", "town", towns)
    assert [(c.unit_code, c.role, [x.order for x in c.persons]) for c in chains] == [
        (t, role, [order]) for t in towns for role, order in ((LEAD, 1), (DEPUTY, 2))
    ]
    assert all(x.phone.startswith("1380000") for c in chains for x in c.persons)


# -- the CLI and the console --


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[CliRunner]:
    """The CLI against the test database (no workflow needed), as the test bureau."""
    from yingji.core.settings import get_settings

    monkeypatch.setenv("YINGJI_DATABASE_URL", database_url)
    monkeypatch.setenv("YINGJI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def test_responsible_commands(
    cli_env: CliRunner, engine: AsyncEngine, code: str, tmp_path, monkeypatch
) -> None:
    from yingji.cli import app
    from yingji.core.settings import get_settings

    def yingji(*args: str) -> Any:
        return asyncio.to_thread(cli_env.invoke, app, list(args))

    d = await register(engine, code)
    monkeypatch.setenv("YINGJI_BUREAU_DISTRICT", d)  # the default --district
    get_settings.cache_clear()

    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        (HEADER + f"青禾镇,{LEAD},周建国,abc,1\n新城,{VILLAGE},某,13800000001,1\n").encode("gbk")
    )
    r = await yingji("responsible", "import", str(bad), "--district", d)
    assert r.exit_code == 1, r.output
    assert "line 2: phone: 'abc' is not a phone number" in r.output
    assert "line 3: unit: 新城 is ambiguous" in r.output
    assert "2 problem(s)" in r.output and "nothing imported" in r.output

    good = tmp_path / "people.csv"
    good.write_bytes(b"\xef\xbb\xbf" + people_csv(code).encode())
    r = await yingji("responsible", "import", str(good), "--district", d)
    assert r.exit_code == 0 and "9 person(s) created, 0 updated, 0 unchanged" in r.output, r.output
    r = await yingji("responsible", "import", str(good), "--district", d)
    assert r.exit_code == 0 and "0 person(s) created, 0 updated, 9 unchanged" in r.output

    one = tmp_path / "one.csv"
    one.write_text(HEADER + f"青禾镇,{LEAD},周建国,13800001011,1\n", encoding="utf-8")
    r = await yingji("responsible", "import", str(one), "--replace", "--district", d)
    assert r.exit_code == 0, r.output
    assert "0 person(s) created, 0 updated, 1 unchanged, 1 deleted" in r.output

    r = await yingji("responsible", "list", "--level", "village", "--json")
    assert r.exit_code == 0, r.output
    assert [(x["unit_code"], x["town_name"], x["name"]) for x in json.loads(r.stdout)] == [
        (f"{code}-01-001", "青禾镇", "郑村长"),
        (f"{code}-01-001", "青禾镇", "王副"),
        (f"{code}-01-002", "青禾镇", "许德明"),
        (f"{code}-02-001", "澄湖街道", "何雪芳"),
    ]
    r = await yingji("responsible", "list", "--unit", "澄湖街道")
    assert r.exit_code == 0 and "吴海燕" in r.output and "13800001021" in r.output, r.output
    assert "周建国" not in r.output
    r = await yingji("responsible", "list", "--district", d, "--unit", "新城")
    assert r.exit_code == 1 and "新城 is ambiguous" in r.output

    r = await yingji("responsible", "gaps")
    assert r.exit_code == 0, r.output
    assert f"{code}-03 松岭镇" in r.output and f"{code}-02-002 石桥社区" in r.output
    assert f"{code}-01 青禾镇" not in r.output
    r = await yingji("responsible", "gaps", "--level", "town")
    assert r.exit_code == 0 and "石桥社区" not in r.output and "松岭镇" in r.output
    r = await yingji("responsible", "gaps", "--level", "county")
    assert r.exit_code == 1 and "'county' is not one of" in r.output
    r = await yingji("responsible", "import", str(tmp_path / "missing.csv"))
    assert r.exit_code == 2 and "cannot read" in r.output


#: Plain console tokens (at least 32 characters).
V_TOKEN = "resp-viewer-token-0123456789abcdef01"
D_TOKEN = "resp-duty-token-0123456789abcdef0123"
A_TOKEN = "resp-admin-token-0123456789abcdef012"


@pytest.fixture
async def console(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    from yingji.console.app import create_app

    tokens = console_tokens_for({V_TOKEN: "viewer", D_TOKEN: "duty_officer", A_TOKEN: "admin"})
    # These routes use no workflow: any object stands in for the Temporal client.
    app = create_app(make_settings(console_tokens=tokens), client=object(), engine=engine)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        yield http


async def test_responsible_routes(
    console: httpx.AsyncClient, engine: AsyncEngine, code: str
) -> None:
    d = await register(engine, code)
    viewer = {"Authorization": f"Bearer {V_TOKEN}"}
    duty = {"Authorization": f"Bearer {D_TOKEN}", "Content-Type": "text/csv"}
    admin = {"Authorization": f"Bearer {A_TOKEN}", "Content-Type": "text/csv"}
    body = people_csv(code).encode("gbk")

    r = await console.post("/api/responsible", content=body, params={"district": d}, headers=duty)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = await console.post(
        "/api/responsible",
        content=(HEADER + f"青禾镇,{LEAD},周建国,abc,1\n白云镇,{LEAD},某,13800000001,1\n").encode(),
        params={"district": d},
        headers=admin,
    )
    assert r.status_code == 409
    assert [(e["path"], e["reason"]) for e in r.json()["errors"]] == [
        (
            "line 2",
            "phone: 'abc' is not a phone number: 5 to 20 digits, an optional leading + "
            "(spaces and hyphens are ignored)",
        ),
        ("line 3", f"unit: '白云镇' is not a registered unit of {d}"),
    ]
    r = await console.post("/api/responsible", content=body, params={"district": d}, headers=admin)
    assert r.status_code == 200
    assert r.json() == {"created": 9, "updated": 0, "unchanged": 0, "deleted": 0}

    # A viewer sees phones masked; a duty officer in full.
    r = await console.get(
        "/api/responsible",
        params={"district": d, "unit": "青禾镇", "level": "town"},
        headers=viewer,
    )
    assert r.status_code == 200, r.text
    assert [(x["name"], x["phone"]) for x in r.json()] == [
        ("周建国", "138****1011"),
        ("朱永刚", "138****1012"),
    ]
    r = await console.get("/api/responsible", params={"district": d}, headers=duty)
    assert r.status_code == 200 and "13800001011" in {x["phone"] for x in r.json()}
    assert len(r.json()) == 9
    r = await console.get("/api/responsible", params={"unit": "新城"}, headers=viewer)
    assert r.status_code == 409 and "ambiguous" in r.text
    r = await console.get("/api/responsible", params={"level": "county"}, headers=viewer)
    assert r.status_code == 422
    r = await console.get("/api/responsible", params={"district": "某区\x00"}, headers=viewer)
    assert r.status_code == 422

    r = await console.get("/api/responsible/gaps", params={"district": d}, headers=viewer)
    assert r.status_code == 200
    assert [g["unit_code"] for g in r.json()] == [f"{code}-03", f"{code}-02-002"]
    r = await console.get(
        "/api/responsible/gaps", params={"district": d, "level": "village"}, headers=viewer
    )
    assert [g["unit_name"] for g in r.json()] == ["石桥社区"]

    one = (HEADER + f"青禾镇,{LEAD},周建国,13800001011,1\n").encode()
    r = await console.post(
        "/api/responsible", content=one, params={"replace": "true", "district": d}, headers=admin
    )
    assert r.status_code == 200
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 1, "deleted": 1}
    assert (await console.get("/api/responsible")).status_code == 401


# -- the migration --


async def test_migration_0013_downgrades_and_upgrades(database_url: str) -> None:
    from alembic import command

    async with scratch_database(database_url, "head") as url:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                found = await conn.execute(text("SELECT to_regclass('responsible_person')"))
                assert found.scalar() == "responsible_person"
            await asyncio.to_thread(command.downgrade, alembic_config(url), "0012")
            async with engine.connect() as conn:
                found = await conn.execute(text("SELECT to_regclass('responsible_person')"))
                assert found.scalar() is None
            await asyncio.to_thread(command.upgrade, alembic_config(url), "0013")
        finally:
            await engine.dispose()
