"""Disaster reports on the time-skipping server: 初报 in 2 hours, 续报 by 09:00, 核报 N working
days after stable; reminders, escalation, review, the ratio rule and the typhoon link."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.common import CHINA_TZ
from models.disaster import (
    Decision,
    DisasterOpen,
    DisasterReportInput,
    Indicators,
    ReportKind,
    ReportStatus,
    ReviewInput,
    StableInput,
    TownFigures,
)
from models.typhoon import Figures, UnitReport
from models.warning import Contact
from tests.conftest import make_settings
from tests.helpers import applied_reports, eventually, new_event, rows
from workflows.base import start_of
from yingji.services import disaster as disasters
from yingji.services import typhoon as typhoons
from yingji.stores.overdue import overdue

# Typhoon 梅花, Jiading, as of 2022-09-14 23:00 (DOMAIN.md §5).
MEIHUA = Indicators(
    affected=24523,
    pre_evacuated=8982,
    relocated=15541,
    centralized=14952,
    dispersed=589,
    houses_general=1,
    houses_general_households=1,
    crops_affected_ha=297.55,
    crops_damaged_ha=198.37,
    direct_loss=281.01,
    loss_by_sector={"住房及居民家庭财产": 30.00, "农业": 245.71, "其他": 5.30},
)


#: These tests open live processes on past dates (a holiday window, the 梅花 tally).
BACKDATED = make_settings(disaster_max_backdate_days=3650)


def opened(code: str, occurred_at: datetime, typhoon: str | None = None) -> DisasterOpen:
    return DisasterOpen(
        code=code,
        name="台风“梅花”灾害过程",
        hazard="台风",
        district="嘉定区",
        occurred_at=occurred_at,
        opened_by="值班员",
        typhoon_event_id=typhoon,
        officer=Contact(name="区A岗信息员", phone="13800000001"),
        backup=Contact(name="区B岗信息员", phone="13800000002"),
        head=Contact(name="区应急局分管领导", phone="13800000003"),
    )


def report(
    kind: ReportKind, report_id: str, as_of: datetime, indicators: Indicators, **extra: object
) -> DisasterReportInput:
    towns = (
        [TownFigures(town="嘉定镇街道", indicators=indicators)]
        if kind is ReportKind.INITIAL
        else []
    )
    return DisasterReportInput(
        kind=kind,
        report_id=report_id,
        as_of=as_of,
        by="区A岗信息员",
        indicators=indicators,
        towns=towns,
        **extra,
    )


ZERO = Indicators(relocated=0, centralized=0, dispersed=0)


def test_indicators_hold_together() -> None:
    assert MEIHUA.pre_evacuated + MEIHUA.relocated == MEIHUA.affected
    with pytest.raises(ValidationError, match="dead"):
        Indicators(dead=-1, relocated=0, centralized=0, dispersed=0)
    with pytest.raises(
        ValidationError, match="affected: 紧急避险转移 8982 \\+ 紧急转移安置 15541 exceed"
    ):
        MEIHUA.model_copy(update={"affected": 20000}).model_validate(
            {**MEIHUA.model_dump(), "affected": 20000}
        )
    with pytest.raises(ValidationError, match="crops_damaged_ha"):
        Indicators.model_validate({**MEIHUA.model_dump(), "crops_failed_ha": 200})
    with pytest.raises(ValidationError, match=r"loss_by_sector: sectors add to 282\.01"):
        Indicators.model_validate({**MEIHUA.model_dump(), "loss_by_sector": {"农业": 282.01}})
    with pytest.raises(ValidationError, match="towns: 初报 must be broken down by 街镇"):
        DisasterReportInput(
            kind=ReportKind.INITIAL,
            report_id="x",
            as_of=datetime.now(CHINA_TZ),
            by="b",
            indicators=ZERO,
        )


async def test_deadlines_reminders_escalation_review_and_resubmission(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    now = (await ts_env.get_current_time()).astimezone(CHINA_TZ)
    handle = await disasters.open_disaster(
        ts_client, make_settings(), opened(code, now), task_queue=task_queue
    )

    # Two hours pass with no 初报: a reminder at +15 min, escalation at +60 min.
    await ts_env.sleep(timedelta(hours=2, minutes=20))
    v = await disasters.show(ts_client, code)
    assert v.slots[0].reminded and not v.slots[0].escalated and v.overdue[0] == "initial"
    await ts_env.sleep(timedelta(minutes=45))
    v = await disasters.show(ts_client, code)
    assert v.slots[0].escalated
    sent = await rows(
        engine,
        "SELECT recipient FROM notification WHERE source = :s ORDER BY key",
        s=f"disaster:{code}",
    )
    assert sorted(r["recipient"] for r in sent) == [
        "区A岗信息员",
        "区B岗信息员",
        "区应急局分管领导",
    ]
    # The duty room's overdue list shows the missing 初报.
    await eventually(
        lambda: overdue(engine),
        lambda found: any(
            o["kind"] == "disaster_report" and o["ref"] == f"{code}:initial" for o in found
        ),
    )

    # The late 初报 is accepted and marked late; a zero 续报 before 09:00 counts, on time.
    v = await disasters.submit(ts_client, code, report(ReportKind.INITIAL, "I-1", now, ZERO))
    assert v.reports[0].late
    first_update = v.slots[1]
    assert first_update.due == datetime.combine(
        now.date() + timedelta(days=1), datetime.min.time(), tzinfo=CHINA_TZ
    ) + timedelta(hours=9)
    assert first_update.as_of == start_of(now.date() + timedelta(days=1))
    v = await disasters.submit(
        ts_client, code, report(ReportKind.UPDATE, "U-1", first_update.as_of, ZERO)
    )
    assert not v.reports[1].late and v.slots[1].report_id == "U-1"

    # Figures rise; a further jump over 50% needs an explanation.
    grown = Indicators.model_validate({**MEIHUA.model_dump(), "direct_loss": 281.01})
    await ts_env.sleep(timedelta(days=1))
    await disasters.submit(ts_client, code, report(ReportKind.UPDATE, "U-2", now, grown))
    doubled = Indicators.model_validate(
        {**MEIHUA.model_dump(), "affected": 50000, "pre_evacuated": 20000}
    )
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await disasters.submit(ts_client, code, report(ReportKind.UPDATE, "U-3", now, doubled))
    assert "explanation: affected changed from 24523 to 50000 (+104%)" in str(err.value.cause)

    # Review: the 初报 passes; U-2 is rejected and its slot opens again for a resubmission.
    await disasters.review(
        ts_client, code, ReviewInput(report_id="I-1", reviewer="市应急局", decision=Decision.PASS)
    )
    v = await disasters.review(
        ts_client,
        code,
        ReviewInput(
            report_id="U-2",
            reviewer="市应急局",
            decision=Decision.REJECT,
            reason="农业损失口径有误",
        ),
    )
    u2_slot = next(s for s in v.slots if s.report_id == "U-2")
    u2 = next(r for r in v.reports if r.report_id == "U-2")
    assert u2.status is ReportStatus.REJECTED and u2.review_reason == "农业损失口径有误"
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await disasters.review(
            ts_client, code, ReviewInput(report_id="U-2", reviewer="x", decision=Decision.PASS)
        )
    assert "already reviewed" in str(err.value.cause)
    v = await disasters.submit(
        ts_client,
        code,
        report(ReportKind.UPDATE, "U-2b", now, doubled, explanation="新增江桥镇受灾村民核实"),
    )
    resubmitted = next(s for s in v.slots if s.report_id == "U-2b")
    assert resubmitted.key == u2_slot.key and resubmitted.late == (
        resubmitted.submitted_at > resubmitted.due
    )

    # Stable: no more 续报; the 核报 falls due N working days later.
    with pytest.raises(WorkflowUpdateFailedError):
        await disasters.submit(ts_client, code, report(ReportKind.FINAL, "F-1", now, doubled))
    v = await disasters.declare_stable(ts_client, code, StableInput(by="区防指"))
    assert v.final_due is not None and v.final_due > start_of(v.stable_on)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await disasters.submit(ts_client, code, report(ReportKind.UPDATE, "U-9", now, doubled))
    assert "send the 核报" in str(err.value.cause)
    await disasters.submit(ts_client, code, report(ReportKind.FINAL, "F-1", now, doubled))
    corrected = Indicators.model_validate({**doubled.model_dump(), "dead": 0})
    await disasters.review(
        ts_client,
        code,
        ReviewInput(
            report_id="F-1", reviewer="市应急局", decision=Decision.CORRECT, corrected=corrected
        ),
    )
    final = await handle.result()
    assert final.closed
    statuses = {r.report_id: r.status for r in final.reports}
    assert statuses == {
        "I-1": ReportStatus.PASSED,
        "U-1": ReportStatus.SUBMITTED,
        "U-2": ReportStatus.REJECTED,
        "U-2b": ReportStatus.SUBMITTED,
        "F-1": ReportStatus.CORRECTED,
    }
    stored = await rows(
        engine,
        "SELECT report_id, late FROM disaster_report "
        "WHERE disaster_code = :c ORDER BY submitted_at",
        c=code,
    )
    assert [r["report_id"] for r in stored] == ["I-1", "U-1", "U-2", "U-2b", "F-1"]
    assert [r["late"] for r in stored][:2] == [True, False]


async def test_final_window_crosses_the_national_day_holiday(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    occurred = datetime(2024, 9, 28, 10, 0, tzinfo=CHINA_TZ)
    await disasters.open_disaster(
        ts_client, BACKDATED, opened(code, occurred), task_queue=task_queue
    )
    await disasters.submit(ts_client, code, report(ReportKind.INITIAL, "I-1", occurred, ZERO))
    v = await disasters.declare_stable(
        ts_client, code, StableInput(by="区防指", stable_on=date(2024, 9, 30))
    )
    # 2 working days after Monday 30 September 2024: 1-7 October are off, so 8 and 9 October.
    assert v.final_due == start_of(date(2024, 10, 10))


async def test_relocation_comes_from_the_typhoon_tally(
    ts_client: Client, engine, task_queue: str, code: str
) -> None:
    event = await new_event(engine, "梅花")
    await typhoons.open_typhoon(
        ts_client,
        engine,
        make_settings(typhoon_apply_min_seconds=0.1),
        event,
        task_queue=task_queue,
    )
    as_of = datetime(2022, 9, 14, 23, tzinfo=CHINA_TZ)
    for unit, centralized, dispersed in (("嘉定镇街道", 14000, 500), ("南翔镇", 952, 89)):
        await typhoons.submit_report(
            engine,
            UnitReport(
                event_id=event.event_id,
                report_id=f"{unit}-1",
                unit=unit,
                as_of=as_of,
                figures=Figures(
                    relocated=centralized + dispersed, centralized=centralized, dispersed=dispersed
                ),
                reported_by="信息员",
            ),
        )
    await applied_reports(ts_client, event.event_id, 2)

    no_link = f"{code}-X"
    await disasters.open_disaster(
        ts_client, BACKDATED, opened(no_link, as_of), task_queue=task_queue
    )
    blank = Indicators(affected=24523, pre_evacuated=8982)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await disasters.submit(ts_client, no_link, report(ReportKind.INITIAL, "I-1", as_of, blank))
    assert "indicators.relocated: required (no typhoon tally" in str(err.value.cause)

    await disasters.open_disaster(
        ts_client, BACKDATED, opened(code, as_of, event.event_id), task_queue=task_queue
    )
    v = await disasters.submit(ts_client, code, report(ReportKind.INITIAL, "I-1", as_of, blank))
    got = v.reports[0]
    assert got.relocation_from_typhoon
    assert (got.indicators.relocated, got.indicators.centralized, got.indicators.dispersed) == (
        15541,
        14952,
        589,
    )


async def test_a_long_process_keeps_every_report_in_the_database_and_only_the_latest_in_state(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    """A report's towns and text were kept only in the workflow's state, which carried every
    report through each continue-as-new. Now each report is written in full once; the state
    keeps the latest three whole and only the figures of older, reviewed ones."""
    from models.disaster import REPORTS_IN_FULL, TOWNS_MAX

    now = (await ts_env.get_current_time()).astimezone(CHINA_TZ)
    await disasters.open_disaster(
        ts_client, make_settings(), opened(code, now), task_queue=task_queue
    )
    towns = [TownFigures(town=f"第{i}街镇", indicators=ZERO) for i in range(TOWNS_MAX)]
    first = report(ReportKind.INITIAL, "R-0", now, ZERO, narrative="初报：全区平稳" * 100)
    await disasters.submit(ts_client, code, first.model_copy(update={"towns": towns}))
    for i in range(1, 6):
        extra = report(ReportKind.UPDATE, f"R-{i}", now, ZERO, narrative=f"第{i}次续报")
        await disasters.submit(ts_client, code, extra)
    for i in range(6):
        review = ReviewInput(report_id=f"R-{i}", reviewer="市应急局", decision=Decision.PASS)
        view = await disasters.review(ts_client, code, review)
    kept = {r.report_id: r for r in view.reports}
    assert len(kept) == 6 and all(r.status is ReportStatus.PASSED for r in kept.values())
    older = [kept[f"R-{i}"] for i in range(6 - REPORTS_IN_FULL)]
    assert all(not r.towns and not r.narrative for r in older)  # figures only
    assert kept["R-5"].narrative == "第5次续报"
    stored = {
        r["report_id"]: r
        for r in await rows(
            engine,
            "SELECT report_id, status, towns, narrative, by FROM disaster_report "
            "WHERE disaster_code = :c",
            c=code,
        )
    }
    assert len(stored) == 6 and all(r["status"] == "passed" for r in stored.values())
    assert len(stored["R-0"]["towns"]) == TOWNS_MAX
    assert stored["R-0"]["narrative"] == "初报：全区平稳" * 100
    assert stored["R-0"]["by"] == "区A岗信息员"


async def test_a_process_linked_to_a_typhoon_never_opened_is_refused(
    ts_env: WorkflowEnvironment, ts_client: Client, task_queue: str, code: str
) -> None:
    """Newcomer: ``disaster open --typhoon 2022:12`` took a typhoon never opened, and its 初报
    then showed 紧急转移安置 0."""
    from yingji.core.errors import DomainRefusal

    now = (await ts_env.get_current_time()).astimezone(CHINA_TZ)
    with pytest.raises(DomainRefusal, match="no typhoon 2099:1 has been opened"):
        await disasters.open_disaster(
            ts_client, make_settings(), opened(code, now, typhoon="2099:1"), task_queue=task_queue
        )
