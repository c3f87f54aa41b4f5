"""``yingji load``: the 梅花 scenario (DOMAIN.md §5) through the same entry points, exactly and
idempotently; a bad file is refused whole, naming each bad field."""

from __future__ import annotations

import pytest

from models.disaster import ReportKind, ReportStatus
from models.plan import PlanStage
from models.warning import CallStatus
from tests.helpers import JIADING_UNITS
from tests.stack import MEIHUA, database_state, fresh_stack, load_file
from worker import build_worker
from yingji import loader as scenario
from yingji.services import disaster as disasters
from yingji.services import drill as drills
from yingji.services import plan as plans
from yingji.services import typhoon as typhoons
from yingji.services import unit as unit_service
from yingji.services import warning as warnings
from yingji.stores import officer as roster


async def test_meihua_loads_exactly_and_twice_changes_nothing(database_url: str) -> None:
    async with fresh_stack(database_url) as stack:
        async with build_worker(stack.client, stack.settings, stack.engine, stack.task_queue):
            first = await load_file(stack)
            assert first.created == {
                "plans": 2,
                "drills": 1,
                "typhoons": 1,
                "warnings": 1,
                "disasters": 1,
            }
            assert first.reports == {"accepted": 36, "correction": 1, "duplicate": 1, "late": 1}

            # The typhoon tally: 紧急避险转移 8,982; 紧急转移安置 15,541 = 集中 14,952 + 分散 589.
            board = await typhoons.board(stack.client, "2022:12")
            t = board.district_totals
            assert (t.pre_evacuated, t.relocated, t.centralized, t.dispersed) == (
                8982,
                15541,
                14952,
                589,
            )
            assert t.relocated == t.centralized + t.dispersed
            assert t.units_reported == 12 and len(board.towns) == 12
            # The board names each 街镇 as the register does: 南翔镇 (JD-04) with its figures.
            nanxiang = next(town for town in board.towns if town.name == "南翔镇")
            assert nanxiang.town == "JD-04"
            assert (nanxiang.totals.relocated, nanxiang.totals.centralized) == (1532, 1480)
            assert all(town.name for town in board.towns)
            assert board.status.value == "closed"

            # The register is the file's 12 街镇 (no migration adds any), each with its officers;
            # the example register (examples/jiading-units.csv) is the same 12, so importing it
            # changes nothing.
            towns = await unit_service.list_units(stack.engine, "嘉定区")
            assert [(u.code, u.level) for u in towns] == [
                (f"JD-{i:02d}", "town") for i in range(1, 13)
            ]
            assert await roster.gaps(stack.engine, "嘉定区") == []
            result = await unit_service.import_csv(stack.engine, JIADING_UNITS.read_bytes())
            assert (result.created, result.updated, result.unchanged) == (0, 0, 12)

            # The disaster process: 受灾 24,523 = 8,982 + 15,541, the 核报 taking 转移安置 from
            # the tally; losses 281.01 万元 = 30.00 + 245.71 + 5.30.
            view = await disasters.show(stack.client, "JD-2022-MEIHUA")
            assert view.closed and not view.overdue
            final = next(r for r in view.reports if r.kind is ReportKind.FINAL)
            assert final.relocation_from_typhoon and final.status is ReportStatus.PASSED
            i = final.indicators
            assert i.affected == 24523 == i.pre_evacuated + i.relocated == 8982 + 15541
            assert (i.relocated, i.centralized, i.dispersed) == (15541, 14952, 589)
            assert (i.houses_general, i.houses_general_households) == (1, 1)
            assert (i.crops_affected_ha, i.crops_damaged_ha) == (297.55, 198.37)
            assert i.direct_loss == 281.01
            assert i.loss_by_sector == {"住房及家庭财产": 30.00, "农业": 245.71, "其他": 5.30}
            assert round(sum(i.loss_by_sector.values()), 2) == i.direct_loss
            # Historical times decide lateness: every report was in on time in 2022.
            assert [r.late for r in view.reports] == [False, False, False]
            assert final.submitted_at.isoformat() == "2022-09-19T16:30:00+08:00"

            # 叫应: 10 answered in the window, one after 未叫醒, one by the B officer.
            call = await warnings.show(stack.client, "JD-2022-0913-TFCS")
            statuses = sorted(c.status for c in call.calls)
            assert call.finished and call.targets == 12
            assert statuses.count(CallStatus.ANSWERED) == 10
            assert CallStatus.ANSWERED_AFTER_ESCALATION in statuses
            assert CallStatus.BACKUP_ANSWERED in statuses
            assert call.not_reached == 2 and call.call_response_rate == pytest.approx(10 / 12)

            # Plans: filed on time in 2022; three years on (2025) their evaluation fell due.
            for code in ("JD-2022-FXFT", "JD-2022-YJBN"):
                plan = await plans.show(stack.client, code)
                assert plan.filing is not None and plan.filing.late_by_days == 0
                assert plan.stage is PlanStage.UNDER_EVALUATION and plan.evaluation_overdue
            drill = await drills.show(stack.client, "JD-2022-FXFT-YL")
            assert drill.stage.value == "closed"

            before = await database_state(stack.engine, stack.started)
            second = await load_file(stack)
            assert second.created == {}
            assert second.existing == first.created
            # The typhoon, warning, drill and disaster have ended: skipped whole. The plans run on
            # (their evaluation is due): their steps go again under the same update ids, and
            # Temporal answers with the first outcome instead of refusing or repeating them.
            assert second.reports == {}
            assert second.steps_sent == plan_steps_in_file()
            assert await database_state(stack.engine, stack.started) == before


def plan_steps_in_file() -> int:
    parsed = scenario.read(MEIHUA)
    return sum(len(p.steps) for p in parsed.plans)


BAD = """
scenario: bad
plans:
  - create: {code: P1, name: 预案, kind: overall, level: district, unit: 区应急局, drafter: 甲}
    steps:
      - submit: {by: 甲}
      - launch: {}
typhoons:
  - open: {year: 2022, number: 12, name: 梅花, district: 嘉定区, opened_by: 乙}
    reports:
      - {report_id: R1, unit: U1, as_of: '2022-09-14T23:00:00+08:00', reported_by: 丙,
         figures: {relocated: 10, centralized: 5, dispersed: 4}}
warnings:
  - {warning_id: W1, title: 叫应, district: 嘉定区, issued_by: 丁, issued_at: '2022-09-13T10:00:00',
     acks: [{person: 戊}]}
"""


def test_a_bad_file_is_refused_whole_naming_each_field() -> None:
    with pytest.raises(scenario.ScenarioError) as caught:
        scenario.parse(BAD)
    text = str(caught.value)
    assert "unknown action 'launch'" in text
    assert "typhoons.0.reports.0.figures" in text and "集中 5 + 分散 4" in text
    assert "warnings.0.issued_at: needs its time zone, e.g. 2024-09-16T08:00+08:00" in text


def test_the_example_file_parses() -> None:
    parsed = scenario.read(MEIHUA)
    assert parsed.scenario == "jiading-2022-meihua"
    assert all(d.open.historical for d in parsed.disasters)
