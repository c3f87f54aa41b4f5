"""A bureau that is not Jiading: invented 街镇 and 村居 from a unit file, a roster, a past typhoon
from a scenario, and its year-end summary. Everything it shows names only its own units, and
nothing anywhere says 嘉定."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.stack import Stack, fresh_stack
from worker import build_worker
from yingji import loader as scenario
from yingji.services import summary as summaries
from yingji.services import typhoon as typhoons
from yingji.services import unit as units
from yingji.stores import officer as roster

DISTRICT = "青禾区"
BUREAU = "青禾区应急管理局"

#: Invented: no real place list was used.
UNITS = f"""code,name,level,parent_code,district
QH-01,云溪镇,town,,{DISTRICT}
QH-01-001,上林村,village,QH-01,{DISTRICT}
QH-01-002,下林村,village,QH-01,{DISTRICT}
QH-02,澄湖街道,town,,{DISTRICT}
QH-02-001,湖滨社区,village,QH-02,{DISTRICT}
"""

ROSTER = """unit,role,name,phone
上林村,A,林一,13900000001
QH-01-002,A,林二,13900000002
云溪镇,A,云甲,13900000003
澄湖街道,A,湖甲,13900000004
"""

YEAR = f"""
scenario: an-invented-district
typhoons:
  - open: {{year: 2023, number: 9, name: 苏拉, district: {DISTRICT}, opened_by: 区防指, level: IV,
           warning: blue, at: '2023-09-01T08:00:00+08:00'}}
    reports:
      - {{report_id: SL-1, unit: 上林村, as_of: '2023-09-01T18:00:00+08:00', reported_by: 林一,
         figures: {{pre_evacuated: 10, relocated: 120, centralized: 100, dispersed: 20}}}}
      - {{report_id: SL-2, unit: QH-01-002, as_of: '2023-09-01T18:00:00+08:00', reported_by: 林二,
         figures: {{pre_evacuated: 5, relocated: 80, centralized: 70, dispersed: 10}}}}
      - {{report_id: SL-3, unit: 湖滨社区, as_of: '2023-09-01T19:00:00+08:00', reported_by: 湖甲,
         figures: {{pre_evacuated: 0, relocated: 40, centralized: 40, dispersed: 0}}}}
    levels:
      - {{level: none, warning: lifted, by: 区防指, at: '2023-09-02T10:00:00+08:00'}}
    close: {{by: 区防指, at: '2023-09-02T12:00:00+08:00'}}
"""


@pytest.fixture(scope="module")
async def bureau(database_url: str) -> AsyncIterator[Stack]:
    async with fresh_stack(database_url) as stack:
        settings = stack.settings.model_copy(
            update={"bureau_name": BUREAU, "bureau_district": DISTRICT, "bureau_level": "district"}
        )
        stack.settings = settings
        async with build_worker(stack.client, settings, stack.engine, stack.task_queue):
            await units.import_csv(stack.engine, UNITS.encode("gbk"))
            await roster.import_rows(stack.engine, roster.parse_csv(ROSTER))
            await scenario.load(stack.client, stack.engine, settings, scenario.parse(YEAR))
            yield stack


async def test_the_board_names_only_its_own_units(bureau: Stack) -> None:
    board = await typhoons.board(bureau.client, "2023:9")
    assert board.district == DISTRICT
    assert [(t.town, t.name, t.totals.relocated) for t in board.towns] == [
        ("QH-01", "云溪镇", 200),
        ("QH-02", "澄湖街道", 40),
    ]
    assert board.district_totals.relocated == 240
    assert "嘉定" not in board.model_dump_json()


async def test_officer_gaps_name_only_its_own_units(bureau: Stack) -> None:
    gaps = await roster.gaps(bureau.engine, DISTRICT)
    # 湖滨社区 has nobody; every other unit has its A officer (named by name or by code).
    assert [(g.unit_code, g.missing) for g in gaps] == [("QH-02-001", "A and B")]
    assert await roster.gaps(bureau.engine, "嘉定区") == []


async def test_its_summary_speaks_for_it_and_never_of_jiading(bureau: Stack) -> None:
    document = await summaries.run_summary(bureau.client, bureau.settings, 2023, "测试")
    assert document.district == DISTRICT
    assert document.title.startswith(f"2023年{DISTRICT}")
    assert "苏拉" in document.markdown and "240人" in document.markdown
    assert "嘉定" not in document.markdown + document.title
    assert "嘉定" not in json.dumps(document.figures.model_dump(mode="json"), ensure_ascii=False)
