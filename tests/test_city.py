"""A city bureau (市应急管理局): plans and drills carry their jurisdiction (辖区), and the year's
figures count the city's own apart from its districts' — "1个市级总体应急预案和N个区县总体应急预案"
— while a district bureau counts only its own, and nothing of a district outside the city.

Every place here is invented.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from activities.summary_text import load_templates, render
from tests.helpers import eventually
from tests.stack import Stack, fresh_stack
from tests.test_cli import yingji
from worker import build_worker
from yingji import loader as scenario
from yingji.services import summary as summaries
from yingji.services import unit as units
from yingji.stores import summary as summary_store
from yingji.stores.unit import jurisdiction_level

CITY = "青岚市"
BUREAU = "青岚市应急管理局"
EAST, WEST, SOUTH = "东岭区", "西湾区", "南塘区"
#: A district of another city: none of 青岚市's.
OUTSIDE = "北岸区"
YEAR = 2023

UNITS = """code,name,level,parent_code,district
QL,青岚市,city,,青岚市
QL-01,东岭区,district,QL,东岭区
QL-02,西湾区,district,QL,西湾区
QL-03,南塘区,district,QL,南塘区
QL-01-001,东岭街道,town,QL-01,东岭区
BS,白沙市,city,,白沙市
BS-01,北岸区,district,BS,北岸区
"""


def _plan(code: str, name: str, kind: str, level: str, month: int, where: str) -> str:
    """A plan drafted, reviewed, approved and issued within ``YEAR``; ``where`` is the YAML that
    names its district (empty: the configured one)."""
    day = f"{YEAR}-{month:02d}"
    return f"""
  - {where}create: {{code: {code}, name: {name}, kind: {kind}, level: {level}, unit: {name[:3]},
             drafter: 预案科, at: '{day}-01T09:00:00+08:00'}}
    steps:
      - submit: {{by: 预案科, at: '{day}-02T09:00:00+08:00'}}
      - review: {{reviewer: 成员单位, opinion: 同意, outcome: pass, at: '{day}-03T09:00:00+08:00'}}
      - review: {{reviewer: 专家组, opinion: 论证通过, outcome: pass,
                 at: '{day}-04T09:00:00+08:00'}}
      - review: {{reviewer: 司法局, opinion: 合法, outcome: pass, at: '{day}-05T09:00:00+08:00'}}
      - approve: {{approver: 常务会议, collective_discussion: true, at: '{day}-08T09:00:00+08:00'}}
      - issue: {{document_number: {code}〔{YEAR}〕1号, issuer: 政府办公室,
                at: '{day}-10T09:00:00+08:00'}}"""


def _drill(code: str, name: str, drill_type: str, month: int, where: str) -> str:
    """The configured city's drills are organised by the bureau itself."""
    day = f"{YEAR}-{month:02d}"
    organiser = f"{name[:3]}应急管理局" if where else BUREAU
    return f"""
  - {where}create: {{code: {code}, name: {name}, drill_type: {drill_type}, scenario: 城市内涝,
             organiser: {organiser}, participants: [水务局, 消防救援支队], site: 某地,
             scheduled_on: {day}-20, at: '{day}-01T09:00:00+08:00'}}
    steps:
      - conduct: {{participant_count: 60, by: 指挥部, at: '{day}-20T16:00:00+08:00'}}"""


def _in(district: str) -> str:
    """The entry names its district beside ``create:`` (the other way is inside it)."""
    return f"district: {district}\n    "


SCENARIO = (
    "scenario: a-city-and-its-districts\nplans:"
    # The city's own: one overall plan, two special ones (default district: the city).
    + _plan("QL-ZT", "青岚市突发事件总体应急预案", "overall", "city", 1, "")
    + _plan("QL-FX", "青岚市防汛应急预案", "special", "city", 2, "")
    + _plan("QL-DZ", "青岚市地震应急预案", "special", "city", 3, _in(CITY))
    # Each district's overall plan; 东岭区 also a special one.
    + _plan("DL-ZT", "东岭区突发事件总体应急预案", "overall", "district", 4, _in(EAST))
    + _plan("DL-FX", "东岭区防汛应急预案", "special", "district", 5, _in(EAST))
    + _plan("XW-ZT", "西湾区突发事件总体应急预案", "overall", "district", 4, _in(WEST))
    + _plan("NT-ZT", "南塘区突发事件总体应急预案", "overall", "district", 4, _in(SOUTH))
    # Another city's district: never 青岚市's.
    + _plan("BA-ZT", "北岸区突发事件总体应急预案", "overall", "district", 4, _in(OUTSIDE))
    + "\ndrills:"
    + _drill("QL-YL", "青岚-2023", "comprehensive", 6, "")
    + _drill("DL-YL", "东岭区防汛演练", "live", 7, _in(EAST))
    + _drill("XW-YL", "西湾区防汛演练", "live", 7, _in(WEST))
    + _drill("NT-YL", "南塘区桌面推演", "tabletop", 8, _in(SOUTH))
    + _drill("BA-YL", "北岸区防汛演练", "live", 7, _in(OUTSIDE))
    + "\n"
)


@pytest.fixture(scope="module")
async def city(database_url: str) -> AsyncIterator[Stack]:
    """A city bureau's own stack: the register (a city, its three districts, and another city
    with a district), then the year's plans and drills loaded with their past times."""
    async with fresh_stack(database_url) as stack:
        stack.settings = stack.settings.model_copy(
            update={"bureau_name": BUREAU, "bureau_district": CITY, "bureau_level": "city"}
        )
        async with build_worker(stack.client, stack.settings, stack.engine, stack.task_queue):
            await units.import_csv(stack.engine, UNITS)
            report = await scenario.load(
                stack.client, stack.engine, stack.settings, scenario.parse(SCENARIO)
            )
            assert report.created == {"plans": 8, "drills": 5}
            yield stack


async def rows(stack: Stack, sql: str) -> list[tuple[Any, ...]]:
    async with stack.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(sql))]


async def test_plans_and_drills_are_stored_with_their_jurisdiction_and_its_level(
    city: Stack,
) -> None:
    assert await rows(city, "SELECT code, district, district_level FROM plan ORDER BY code") == [
        ("BA-ZT", OUTSIDE, "district"),
        ("DL-FX", EAST, "district"),
        ("DL-ZT", EAST, "district"),
        ("NT-ZT", SOUTH, "district"),
        ("QL-DZ", CITY, "city"),
        ("QL-FX", CITY, "city"),  # no district named: the configured city
        ("QL-ZT", CITY, "city"),
        ("XW-ZT", WEST, "district"),
    ]
    assert await rows(city, "SELECT code, district, district_level FROM drill ORDER BY code") == [
        ("BA-YL", OUTSIDE, "district"),
        ("DL-YL", EAST, "district"),
        ("NT-YL", SOUTH, "district"),
        ("QL-YL", CITY, "city"),
        ("XW-YL", WEST, "district"),
    ]
    assert set(await rows(city, "SELECT DISTINCT stage FROM plan")) == {("issued",)}


async def test_the_citys_figures_count_its_own_plans_apart_from_its_districts(
    city: Stack,
) -> None:
    f = await summary_store.figures(city.engine, YEAR, CITY, "city", bureau=BUREAU)
    assert f.level == "city" and f.districts == [EAST, WEST, SOUTH]
    assert f.plans_made_by_jurisdiction == {
        "city": {"overall": 1, "special": 2},
        "district": {"overall": 3, "special": 1},
    }
    assert f.districts_with_overall_plan == 3
    assert f.plans_made == {"overall": 4, "special": 3}  # 北岸区's is not the city's
    assert f.drills_conducted == 4 and f.drills_by_jurisdiction == {"city": 1, "district": 3}
    assert f.drills_by_type == {"comprehensive": 1, "live": 2, "tabletop": 1}
    assert [(d.name, d.district) for d in f.comprehensive_drills] == [("青岚-2023", CITY)]


async def test_a_district_bureau_counts_only_its_own(city: Stack) -> None:
    east = await summary_store.figures(city.engine, YEAR, EAST, "district")
    assert east.plans_made == {"overall": 1, "special": 1}
    assert east.plans_made_by_jurisdiction == {"district": {"overall": 1, "special": 1}}
    assert (east.districts, east.districts_with_overall_plan) == ([], 0)
    assert (east.drills_conducted, east.drills_by_type) == (1, {"live": 1})
    west = await summary_store.figures(city.engine, YEAR, WEST, "district")
    assert (west.plans_made, west.drills_conducted) == ({"overall": 1}, 1)
    outside = await summary_store.figures(city.engine, YEAR, OUTSIDE, "district")
    assert (outside.plans_made, outside.drills_conducted) == ({"overall": 1}, 1)
    # A district bureau's text is as before: one sentence for the plans it made.
    _, markdown = render(east, f"{EAST}应急管理局", load_templates())
    assert "完成1项总体应急预案和1项专项应急预案制定工作。" in markdown
    assert "市级" not in markdown


async def test_the_citys_summary_tells_the_levels_apart(city: Stack) -> None:
    """Through the workflow: the bureau's level travels in its input to the figures."""
    document = await summaries.run_summary(city.client, city.settings, YEAR, "测试")
    assert document.figures.level == "city"
    assert document.figures.districts_with_overall_plan == 3
    markdown = document.markdown
    assert document.title == f"{YEAR}年{CITY}突发事件应对工作情况"
    # Every district registered under the city has its overall plan: 全部印发. The other
    # kinds, city and districts together, follow.
    assert (
        "1个市级突发事件总体应急预案和3个区县总体应急预案全部印发，完成3项专项应急预案制定工作。"
    ) in markdown
    # The bureau's own drill is named; the districts' are counted.
    assert "统筹做好“青岚-2023”青岚市综合应急演练，3家单位参与，参演60人，" in markdown
    assert "全年共组织开展各类应急演练4次" in markdown
    assert OUTSIDE not in markdown


async def test_a_sentence_without_its_city_or_districts_part_leaves_it_out(city: Stack) -> None:
    figures = await summary_store.figures(city.engine, YEAR, CITY, "city")
    only_districts = figures.model_copy(
        update={
            "plans_made_by_jurisdiction": {"district": {"overall": 3}},
            "city_overall_issued": 0,  # the city's own is not (yet) issued: not 全部印发
        }
    )
    _, markdown = render(only_districts, BUREAU, load_templates())
    assert "完成3个区县总体应急预案制定工作" in markdown and "市级" not in markdown
    none = figures.model_copy(update={"plans_made_by_jurisdiction": {"city": {"special": 2}}})
    _, markdown = render(none, BUREAU, load_templates())
    assert "总体应急预案" not in markdown


async def test_the_level_of_an_unregistered_name(city: Stack) -> None:
    """Not in the register: the configured level for the configured district, else district."""
    async with city.engine.connect() as conn:
        assert await jurisdiction_level(conn, "未登记市", "未登记市", "city") == "city"
        assert await jurisdiction_level(conn, "未登记区", "未登记市", "city") == "district"
        assert await jurisdiction_level(conn, CITY, EAST, "district") == "city"  # registered


def test_a_scenario_names_a_district_beside_or_in_create_not_both() -> None:
    plans = scenario.parse(SCENARIO).plans
    assert [p.create.district for p in plans[:4]] == [None, None, CITY, EAST]
    clash = (
        "scenario: x\nplans:\n  - district: 甲区\n    create: {code: X, name: 预案, "
        "kind: overall, level: district, unit: 甲, drafter: 乙, district: 乙区}\n"
    )
    with pytest.raises(scenario.ScenarioError, match=r"create\.district is '乙区'"):
        scenario.parse(clash)


# -- the CLI ---------------------------------------------------------------------------------------


async def test_plan_create_and_drill_plan_take_a_district(
    cli: CliRunner, engine, code: str
) -> None:
    common = ["--kind", "overall", "--level", "district", "--unit", "东岭区人民政府"]
    r = await yingji(
        cli, "plan", "create", code, "--name", "东岭区总体预案", *common, "--drafter", "张敏",
        "--district", EAST,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"辖区 {EAST}" in r.output
    r = await yingji(cli, "plan", "show", code, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["district"] == EAST

    # Without --district: the configured one (YINGJI_BUREAU_DISTRICT).
    r = await yingji(
        cli, "plan", "create", f"{code}-B", "--name", "嘉定区总体预案", *common,
        "--drafter", "张敏",
    )  # fmt: skip
    assert r.exit_code == 0 and "辖区 嘉定区" in r.output, r.output

    r = await yingji(
        cli, "drill", "plan", f"{code}-D", "--name", "东岭演练", "--type", "live",
        "--scenario", "内涝", "--organiser", "东岭区应急管理局", "--site", "某地",
        "--date", "2031-06-01", "--district", EAST,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"辖区 district: {EAST}" in r.output

    async def stored() -> list[tuple[Any, ...]]:
        async with engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT code, district, district_level FROM plan WHERE code LIKE :c "
                    "UNION ALL SELECT code, district, district_level FROM drill WHERE code = :d "
                    "ORDER BY 1"
                ),
                {"c": f"{code}%", "d": f"{code}-D"},
            )
            return [tuple(r) for r in found]

    assert await eventually(stored, lambda found: len(found) == 3) == [
        (code, EAST, "district"),
        (f"{code}-B", "嘉定区", "district"),
        (f"{code}-D", EAST, "district"),
    ]
