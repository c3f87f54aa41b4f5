"""Record workflow histories for the replay tests.

    .venv/bin/python -m tests.record_histories [SCENARIO ...]

Runs each scenario on the time-skipping server with an embedded PostgreSQL and writes every run
of every workflow (continue-as-new chains included) to ``tests/histories/``. Commit the files:
replaying them in CI is what catches a non-deterministic change to a workflow. Re-record only
when a change is deliberately incompatible and guarded by ``workflow.patched``, and keep the old
files next to the new ones.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pgserver
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from models.common import CHINA_TZ
from models.disaster import (
    Decision,
    DisasterOpen,
    DisasterReportInput,
    Indicators,
    ReportKind,
    StableInput,
    TownFigures,
)
from models.disaster import ReviewInput as DisasterReview
from models.drill import (
    ActionDoneInput,
    ActionInput,
    CancelInput,
    ConductInput,
    DrillCreate,
    DrillEvaluateInput,
    DrillType,
    FindingCategory,
    FindingInput,
    PostponeInput,
    ProgrammeInput,
    Severity,
)
from models.plan import (
    ApproveInput,
    CloseInput,
    EvaluateInput,
    EvaluationOutcome,
    FileInput,
    IssueInput,
    ReviewInput,
    ReviewOutcome,
    RevisionCause,
    RevisionTrigger,
    SubmitDraft,
)
from models.typhoon import (
    CloseTyphoon,
    Figures,
    LevelChange,
    ResponseLevel,
    TyphoonOpen,
    UnitReport,
    WarningColour,
)
from models.warning import AckInput, CallTarget, Contact, WarningIssue
from tests.conftest import make_settings, venv_binary
from tests.helpers import drive_to_approved, eventually, flood_plan, issue, view
from worker import build_worker
from workflows.drill import DrillWorkflow
from workflows.plan import PlanWorkflow
from yingji.core.db import make_engine, migrate
from yingji.core.search import ensure_search_attributes
from yingji.services import disaster as disasters
from yingji.services import summary as summaries
from yingji.services import typhoon as typhoons
from yingji.services import warning as warnings
from yingji.services.drill import create_drill, default_cadence, drill_handle, start_programme
from yingji.services.plan import create_plan, plan_handle

HERE = Path(__file__).parent / "histories"
QUEUE = "record"


async def lifecycle(env: WorkflowEnvironment, code: str) -> None:
    client = env.client
    h = plan_handle(client, code)
    await h.execute_update(PlanWorkflow.submit, SubmitDraft(by="张敏"))
    await h.execute_update(
        PlanWorkflow.review,
        ReviewInput(reviewer="区水务局", opinion="补充转移路线", outcome=ReviewOutcome.RETURN),
    )
    await drive_to_approved(client, code)
    await issue(client, code)
    await env.sleep(timedelta(days=40))
    await h.execute_update(
        PlanWorkflow.file, FileInput(filed_with="上海市应急管理局", filed_by="张敏")
    )
    await env.sleep(timedelta(days=3 * 366))
    await h.execute_update(
        PlanWorkflow.evaluate,
        EvaluateInput(
            evaluator="第三方评估组", outcome=EvaluationOutcome.STILL_VALID, findings="适用"
        ),
    )
    await h.signal(
        PlanWorkflow.trigger_revision,
        RevisionTrigger(
            cause=RevisionCause.LAW_CHANGED,
            detail="上位法修订",
            source="值班员",
            trigger_id="law-1",
        ),
    )
    await eventually(lambda: view(client, code), lambda v: v.version == 2)


async def triggers(env: WorkflowEnvironment, code: str) -> None:
    client = env.client
    h = plan_handle(client, code)
    drill = RevisionTrigger(
        cause=RevisionCause.RESPONSE_OR_DRILL_FINDINGS,
        detail="演练发现问题",
        source="drill:嘉安-2024",
        trigger_id="drill-1",
    )
    await h.signal(PlanWorkflow.trigger_revision, drill)
    await drive_to_approved(client, code)
    await issue(client, code)
    await h.signal(PlanWorkflow.trigger_revision, drill.model_copy(update={"trigger_id": "d-2"}))
    await h.execute_update(
        PlanWorkflow.file, FileInput(filed_with="上海市应急管理局", filed_by="张敏")
    )
    await eventually(lambda: view(client, code), lambda v: v.version == 2)
    await drive_to_approved(client, code)
    await issue(client, code)
    await h.execute_update(
        PlanWorkflow.file, FileInput(filed_with="上海市应急管理局", filed_by="张敏")
    )
    await h.execute_update(
        PlanWorkflow.evaluate,
        EvaluateInput(evaluator="区应急局", outcome=EvaluationOutcome.REVISE, findings="机构调整"),
    )
    await eventually(lambda: view(client, code), lambda v: v.version == 3)


async def withdrawn(env: WorkflowEnvironment, code: str) -> None:
    h = plan_handle(env.client, code)
    await h.execute_update(PlanWorkflow.submit, SubmitDraft(by="张敏"))
    await h.execute_update(PlanWorkflow.withdraw, CloseInput(by="张敏", reason="并入总体预案"))
    await h.result()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def plan_historical(env: WorkflowEnvironment, code: str) -> str:
    """A past plan as ``yingji load`` drives it: every step with its time, the evaluation fallen
    due (and overdue) before a late evaluation, a timed revision cause, then ``end_history``."""
    from yingji.services import plan as plans

    client = env.client
    create = flood_plan(code).model_copy(update={"at": _at("2022-03-01T09:00:00+08:00")})
    await create_plan(client, make_settings(), create, task_queue=QUEUE, historical=True)
    steps: list[tuple[str, object]] = [
        ("submit", SubmitDraft(by="张敏", at=_at("2022-03-15T10:00:00+08:00"))),
        *[
            (
                "review",
                ReviewInput(reviewer=who, opinion="同意", outcome=ReviewOutcome.PASS, at=_at(when)),
            )
            for who, when in (
                ("区水务局", "2022-04-01T10:00:00+08:00"),
                ("专家组", "2022-04-15T10:00:00+08:00"),
                ("区司法局", "2022-05-05T10:00:00+08:00"),
            )
        ],
        (
            "approve",
            ApproveInput(
                approver="区政府常务会议",
                collective_discussion=True,
                at=_at("2022-05-18T15:00:00+08:00"),
            ),
        ),
        (
            "issue",
            IssueInput(
                document_number="嘉府办发〔2022〕99号",
                issuer="区政府办公室",
                at=_at("2022-05-20T10:00:00+08:00"),
            ),
        ),
        (
            "file",
            FileInput(
                filed_with="上海市应急管理局", filed_by="张敏", at=_at("2022-06-08T11:00:00+08:00")
            ),
        ),
        (
            "evaluate",
            EvaluateInput(
                evaluator="第三方评估组",
                outcome=EvaluationOutcome.STILL_VALID,
                findings="适用",
                at=_at("2025-06-01T10:00:00+08:00"),
            ),
        ),
    ]
    for i, (action, data) in enumerate(steps):
        await plans.act(client, code, action, data, f"rec:{code}:{i}")
    await plans.trigger_revision(
        client,
        code,
        RevisionTrigger(
            cause=RevisionCause.LAW_CHANGED,
            detail="上位法修订",
            source="值班员",
            trigger_id="law-2025",
            at=_at("2025-07-01T09:00:00+08:00"),
        ),
        f"rec:{code}:trigger",
    )
    await eventually(lambda: view(client, code), lambda v: v.version == 2)
    await plans.end_history(client, code, f"rec:{code}:end")
    return f"plan:{code}"


async def drill_historical(env: WorkflowEnvironment, code: str) -> str:
    """A past drill held late, evaluated late, an action overdue by the end of the load
    (``end_history``), then done live: the drill closes."""
    from yingji.services import drill as drills

    client = env.client
    drill = DrillCreate(
        code=code,
        name="嘉安-2023",
        drill_type=DrillType.COMPREHENSIVE,
        scenario="持续强降雨",
        organiser="嘉定区应急管理局",
        participants=["嘉定区水务局"],
        site="远香湖",
        scheduled_on=date(2023, 6, 15),
        at=_at("2023-05-01T09:00:00+08:00"),
    )
    await create_drill(client, make_settings(), drill, task_queue=QUEUE, historical=True)
    h = drill_handle(client, code)
    await h.execute_update(
        DrillWorkflow.conduct,
        ConductInput(participant_count=320, by="指挥部", at=_at("2023-06-20T16:00:00+08:00")),
    )
    await h.execute_update(
        DrillWorkflow.evaluate,
        DrillEvaluateInput(
            evaluator="第三方评估组",
            summary="总体成功",
            findings=[
                FindingInput(
                    severity=Severity.LOW,
                    category=FindingCategory.EQUIPMENT,
                    description="物资台账不全",
                )
            ],
            actions=[
                ActionInput(
                    finding=1, description="建立电子台账", owner="区应急局", due_on=date(2023, 8, 1)
                )
            ],
            at=_at("2023-07-20T10:00:00+08:00"),
        ),
    )
    await drills.end_history(client, code, f"rec:{code}:end")
    await h.execute_update(DrillWorkflow.action_done, ActionDoneInput(action=1, by="区应急局"))
    await h.result()
    return f"drill:{code}"


async def drill_closed(env: WorkflowEnvironment, code: str) -> str:
    client = env.client
    plan = f"{code}-P"
    await create_plan(client, make_settings(), flood_plan(plan), task_queue=QUEUE)
    await drive_to_approved(client, plan)
    await issue(client, plan)
    await plan_handle(client, plan).execute_update(
        PlanWorkflow.file, FileInput(filed_with="上海市应急管理局", filed_by="张敏")
    )
    today = (await env.get_current_time()).astimezone(CHINA_TZ).date()
    drill = DrillCreate(
        code=code,
        name="嘉安-2024",
        drill_type=DrillType.COMPREHENSIVE,
        scenario="持续强降雨",
        organiser="嘉定区应急管理局",
        participants=["嘉定区水务局"],
        linked_plans=[plan],
        site="远香湖",
        scheduled_on=today + timedelta(days=10),
    )
    await create_drill(client, make_settings(), drill, task_queue=QUEUE)
    h = drill_handle(client, code)
    await env.sleep(timedelta(days=10))
    await h.execute_update(DrillWorkflow.conduct, ConductInput(participant_count=320, by="指挥部"))
    await env.sleep(timedelta(days=20))
    due = (await env.get_current_time()).astimezone(CHINA_TZ).date() + timedelta(days=5)
    await h.execute_update(
        DrillWorkflow.evaluate,
        DrillEvaluateInput(
            evaluator="第三方评估组",
            third_party=True,
            summary="总体成功",
            findings=[
                FindingInput(
                    severity=Severity.HIGH,
                    category=FindingCategory.PLAN_SOUNDNESS,
                    description="转移路线不明确",
                    plan_defect=True,
                    plan_code=plan,
                )
            ],
            actions=[
                ActionInput(finding=1, description="修订转移路线", owner="区应急局", due_on=due)
            ],
        ),
    )
    await env.sleep(timedelta(days=7))
    await h.execute_update(DrillWorkflow.action_done, ActionDoneInput(action=1, by="区应急局"))
    await h.result()
    return f"drill:{code}"


async def drill_cancelled(env: WorkflowEnvironment, code: str) -> str:
    today = (await env.get_current_time()).astimezone(CHINA_TZ).date()
    drill = DrillCreate(
        code=code,
        name="桌面推演",
        drill_type=DrillType.TABLETOP,
        scenario="危化品泄漏",
        organiser="嘉定区应急管理局",
        site="区应急指挥中心",
        scheduled_on=today + timedelta(days=9),
    )
    await create_drill(env.client, make_settings(), drill, task_queue=QUEUE)
    h = drill_handle(env.client, code)
    await env.sleep(timedelta(days=3))
    await h.execute_update(
        DrillWorkflow.postpone,
        PostponeInput(new_date=today + timedelta(days=30), reason="台风影响", by="值班员"),
    )
    await h.execute_update(DrillWorkflow.cancel, CancelInput(reason="改期至明年", by="值班员"))
    await h.result()
    return f"drill:{code}"


async def programme(env: WorkflowEnvironment, code: str) -> str:
    year = (await env.get_current_time()).astimezone(CHINA_TZ).year + 1
    data = ProgrammeInput(
        unit="西安市应急管理局", unit_code=code, year=year, items=default_cadence(year)
    )
    handle = await start_programme(env.client, make_settings(), data, task_queue=QUEUE)
    await env.sleep(timedelta(days=400))
    await handle.result()
    return f"programme:{code}:{year}"


async def typhoon_closed(env: WorkflowEnvironment, code: str) -> str:
    client = env.client
    engine = make_engine(DATABASE_URL[0])
    event = TyphoonOpen(
        year=2024,
        number=13,
        name="贝碧嘉",
        district="嘉定区",
        opened_by="值班员",
        level=ResponseLevel.IV,
        warning=WarningColour.BLUE,
    )
    settings = make_settings(typhoon_apply_min_seconds=0.2, typhoon_apply_max_seconds=1)
    await typhoons.open_typhoon(client, engine, settings, event, task_queue=QUEUE)
    as_of = datetime(2024, 9, 16, 6, tzinfo=UTC)
    for i, unit in enumerate(("南翔镇", "安亭镇", "嘉定镇街道")):
        await typhoons.submit_report(
            engine,
            UnitReport(
                event_id=event.event_id,
                report_id=f"r{i}",
                unit=unit,
                as_of=as_of,
                figures=Figures(relocated=100 * (i + 1), centralized=100 * (i + 1)),
                reported_by="信息员",
            ),
        )
    await eventually(
        lambda: typhoons.board(client, event.event_id), lambda b: b.reports_applied == 3
    )
    await typhoons.change_level(
        client,
        event.event_id,
        LevelChange(level=ResponseLevel.II, warning=WarningColour.ORANGE, by="区防指"),
    )
    await typhoons.change_level(
        client,
        event.event_id,
        LevelChange(level=ResponseLevel.NONE, warning=WarningColour.LIFTED, by="区防指"),
    )
    await typhoons.close(client, event.event_id, CloseTyphoon(by="区防指"))
    await engine.dispose()
    return f"typhoon:{event.event_id}"


async def typhoon_response(env: WorkflowEnvironment, code: str) -> str:
    """A typhoon as the district runs it (recorded after the response was kept, behind
    ``typhoon-response``): Ⅳ → Ⅱ with each level's actions, an instruction answered in time and
    one late, shelters opened with occupancy, a round with a unit missing reminded and
    escalated, returns, the response ended, the close."""
    from models.officer import OfficerRow
    from models.typhoon import FeedbackInput, OccupancyReport, ShelterChange
    from yingji.services import shelter as shelters
    from yingji.stores import officer as officer_store
    from yingji.stores.typhoon import add_units

    client = env.client
    engine = make_engine(DATABASE_URL[0])
    district = "录制风暴区"
    await add_units(
        engine,
        [
            {"code": c, "name": n, "level": "town", "parent_code": None, "district": district}
            for c, n in (("RT-1", "甲镇"), ("RT-2", "乙镇"))
        ],
    )
    await officer_store.import_rows(
        engine,
        [
            OfficerRow(unit="RT-2", role="A", name="乙镇信息员甲", phone="13900000201"),
            OfficerRow(unit="RT-2", role="B", name="乙镇信息员乙", phone="13900000202"),
        ],
        district=district,
    )
    await shelters.import_csv(
        engine,
        "code,name,unit,type,capacity,address\nRT-S1,甲镇文体中心,甲镇,室内,500,文化路1号\n",
        district=district,
    )
    event = TyphoonOpen(
        year=2024,
        number=14,
        name="普拉桑",
        district=district,
        opened_by="值班员",
        level=ResponseLevel.IV,
        warning=WarningColour.BLUE,
    )
    settings = make_settings(
        typhoon_apply_min_seconds=0.2,
        typhoon_apply_max_seconds=120,
        typhoon_round_minutes=60,
        typhoon_round_due_minutes=30,
        typhoon_round_remind_minutes=15,
        typhoon_round_escalate_minutes=60,
    )
    e = event.event_id
    await typhoons.open_typhoon(client, engine, settings, event, task_queue=QUEUE)

    async def promptly(send: Callable[[str], Awaitable[object]], uid: str) -> object:
        # an update that meets a skipped timer can be lost on this server: send it again
        for _ in range(5):
            try:
                return await asyncio.wait_for(send(uid), 20)
            except TimeoutError:
                continue
        raise RuntimeError(f"update {uid} never answered")

    change = LevelChange(level=ResponseLevel.II, warning=WarningColour.ORANGE, by="区防指")
    board = await promptly(lambda u: typhoons.change_level(client, e, change, u), "rec-ii")
    i2 = board.instructions[-1].id  # type: ignore[attr-defined]
    answer = FeedbackInput(instruction=i2, town="甲镇", text="已部署", by="甲镇")
    await promptly(lambda u: typhoons.feedback(client, e, answer, u), "rec-fb1")
    opening = ShelterChange(shelters=["甲镇文体中心"], by="值班员")
    await promptly(lambda u: typhoons.open_shelters(client, engine, e, opening, u), "rec-open")
    now = datetime.now(UTC) - timedelta(minutes=5)
    await typhoons.submit_occupancy(
        engine,
        OccupancyReport(
            event_id=e,
            report_id="o1",
            shelter="RT-S1",
            as_of=now,
            occupancy=120,
            reported_by="管理员",
        ),
    )
    await env.sleep(timedelta(minutes=61))  # the instruction is overdue; round 1 opens
    late = FeedbackInput(instruction=i2, town="乙镇", text="已转移", by="乙镇")
    await promptly(lambda u: typhoons.feedback(client, e, late, u), "rec-fb2")
    await typhoons.submit_report(
        engine,
        UnitReport(
            event_id=e,
            report_id="u1",
            unit="甲镇",
            as_of=now,
            figures=Figures(
                relocated=150, centralized=130, dispersed=20, shelters_open=1, sheltered_now=120
            ),
            reported_by="信息员",
        ),
    )
    await env.sleep(timedelta(minutes=95))  # due, reminded, escalated (乙镇 missing)
    await typhoons.submit_report(
        engine,
        UnitReport(
            event_id=e,
            report_id="u2",
            unit="甲镇",
            as_of=now + timedelta(minutes=1),
            figures=Figures(
                relocated=150,
                centralized=130,
                dispersed=20,
                returned=100,
                shelters_open=1,
                sheltered_now=40,
            ),
            reported_by="信息员",
        ),
    )
    await env.sleep(timedelta(seconds=121))
    ended = LevelChange(level=ResponseLevel.NONE, warning=WarningColour.LIFTED, by="区防指")
    await promptly(lambda u: typhoons.change_level(client, e, ended, u), "rec-end")
    await promptly(lambda u: typhoons.close(client, e, CloseTyphoon(by="区防指"), u), "rec-close")
    await engine.dispose()
    return f"typhoon:{e}"


async def warning_answered(env: WorkflowEnvironment, code: str) -> str:
    client = env.client
    issue = WarningIssue(
        warning_id=code,
        title="台风红色预警",
        district="嘉定区",
        issued_by="区防指",
        targets=[
            CallTarget(person=Contact(name="甲", phone="13800000001"), unit="南翔镇"),
            CallTarget(
                person=Contact(name="乙", phone="13800000002"),
                unit="安亭镇",
                backup=Contact(name="乙的B岗", phone="13800000003"),
            ),
        ],
    )
    handle = await warnings.issue_warning(client, make_settings(), issue, task_queue=QUEUE)
    await env.sleep(timedelta(seconds=40))
    await warnings.acknowledge(client, code, AckInput(person="甲"))
    await env.sleep(timedelta(minutes=6))
    await warnings.acknowledge(client, code, AckInput(person="乙的B岗"))
    await handle.result()
    return f"warning:{code}"


async def warning_past_ended(env: WorkflowEnvironment, code: str) -> str:
    """A past warning (``yingji load``): one of two answered; ``end_history`` ends it, the
    other 未叫醒."""
    client = env.client
    issued = datetime(2023, 7, 28, 10, tzinfo=CHINA_TZ)
    issue = WarningIssue(
        warning_id=code,
        title="暴雨橙色预警",
        district="嘉定区",
        issued_by="区防指",
        issued_at=issued,
        targets=[
            CallTarget(person=Contact(name="甲", phone="13800000001"), unit="南翔镇"),
            CallTarget(
                person=Contact(name="乙", phone="13800000002"),
                unit="安亭镇",
                backup=Contact(name="乙的B岗", phone="13800000003"),
            ),
        ],
    )
    handle = await warnings.issue_warning(client, make_settings(), issue, task_queue=QUEUE)
    await warnings.acknowledge(
        client, code, AckInput(person="甲", at=issued + timedelta(minutes=2))
    )
    await warnings.end_history(client, code)
    await handle.result()
    return f"warning:{code}"


async def disaster_closed(env: WorkflowEnvironment, code: str) -> str:
    client = env.client
    now = (await env.get_current_time()).astimezone(CHINA_TZ)
    officer = Contact(name="区A岗", phone="13800000001")
    data = DisasterOpen(
        code=code,
        name="台风“梅花”灾害过程",
        hazard="台风",
        district="嘉定区",
        occurred_at=now,
        opened_by="值班员",
        officer=officer,
        backup=Contact(name="区B岗", phone="13800000002"),
    )
    handle = await disasters.open_disaster(client, make_settings(), data, task_queue=QUEUE)
    await env.sleep(timedelta(hours=3, minutes=30))  # late: reminded and escalated
    zero = Indicators(relocated=0, centralized=0, dispersed=0)
    await disasters.submit(
        client,
        code,
        DisasterReportInput(
            kind=ReportKind.INITIAL,
            report_id="I-1",
            as_of=now,
            by="区A岗",
            indicators=zero,
            towns=[TownFigures(town="嘉定镇街道", indicators=zero)],
        ),
    )
    await disasters.review(
        client,
        code,
        DisasterReview(
            report_id="I-1", reviewer="市应急局", decision=Decision.REJECT, reason="缺照片"
        ),
    )
    await disasters.submit(
        client,
        code,
        DisasterReportInput(
            kind=ReportKind.INITIAL,
            report_id="I-2",
            as_of=now,
            by="区A岗",
            indicators=zero,
            towns=[TownFigures(town="嘉定镇街道", indicators=zero)],
            photos=3,
        ),
    )
    await env.sleep(timedelta(days=1))
    await disasters.submit(
        client,
        code,
        DisasterReportInput(
            kind=ReportKind.UPDATE, report_id="U-1", as_of=now, by="区A岗", indicators=zero
        ),
    )
    await disasters.declare_stable(client, code, StableInput(by="区防指"))
    await disasters.submit(
        client,
        code,
        DisasterReportInput(
            kind=ReportKind.FINAL, report_id="F-1", as_of=now, by="区A岗", indicators=zero
        ),
    )
    await disasters.review(
        client, code, DisasterReview(report_id="F-1", reviewer="市应急局", decision=Decision.PASS)
    )
    await handle.result()
    return f"disaster:{code}"


async def summary_empty_year(env: WorkflowEnvironment, code: str) -> str:
    settings = make_settings(bureau_district="嘉定区")
    await summaries.run_summary(env.client, settings, 2017, "值班员", task_queue=QUEUE)
    return "year-end-summary:嘉定区:2017"


def _plan(
    scenario: Callable[[WorkflowEnvironment, str], Awaitable[None]],
) -> Callable[[WorkflowEnvironment, str], Awaitable[str]]:
    """A plan scenario: creates the plan, runs the steps, names the workflow to record."""

    async def run(env: WorkflowEnvironment, code: str) -> str:
        await create_plan(env.client, make_settings(), flood_plan(code), task_queue=QUEUE)
        await scenario(env, code)
        return f"plan:{code}"

    return run


SCENARIOS: dict[str, Callable[[WorkflowEnvironment, str], Awaitable[str]]] = {
    "plan_lifecycle": _plan(lifecycle),
    "plan_triggers": _plan(triggers),
    "plan_withdrawn": _plan(withdrawn),
    # Recorded after the stage search attribute was added behind workflow.patched: the files
    # above replay the old branch, this one the new.
    "plan_staged": _plan(withdrawn),
    "drill_closed": drill_closed,
    # Recorded after steps took their time (``at``) and loads became historical.
    "plan_historical": plan_historical,
    "drill_historical": drill_historical,
    "drill_cancelled": drill_cancelled,
    "programme_year": programme,
    "typhoon_closed": typhoon_closed,
    # Recorded after the response, shelters and rounds (typhoon-response).
    "typhoon_response": typhoon_response,
    "warning_answered": warning_answered,
    # Recorded after a past warning took end_history (its answers are all in).
    "warning_past_ended": warning_past_ended,
    "disaster_closed": disaster_closed,
    "summary_empty_year": summary_empty_year,
}
DATABASE_URL: list[str] = []


async def save_chain(client: Client, workflow_id: str, name: str) -> list[Path]:
    """Write every run of a workflow, following continue-as-new from the first run."""
    first = await client.get_workflow_handle(workflow_id).describe()
    run_id: str | None = first.raw_description.workflow_execution_info.first_run_id
    written = []
    index = 1
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        path = HERE / f"{name}.run{index}.json"
        path.write_text(history.to_json())
        written.append(path)
        last = history.events[-1]
        run_id = None
        if last.HasField("workflow_execution_continued_as_new_event_attributes"):
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        index += 1
    return written


#: From the example scenario (``yingji load``): workflow id → history name.
MEIHUA_WORKFLOWS = {
    "plan:JD-2022-FXFT": "plan_meihua-fxft",
    "plan:JD-2022-YJBN": "plan_meihua-yjbn",
    "drill:JD-2022-FXFT-YL": "drill_meihua",
    "typhoon:2022:12": "typhoon_meihua",
    "warning:JD-2022-0913-TFCS": "warning_meihua",
    "disaster:JD-2022-MEIHUA": "disaster_meihua",
    "year-end-summary:嘉定区:2022": "summary_meihua",
}


async def record_meihua() -> None:
    """Load examples/jiading-2022-meihua.yaml on a dev server, run the 2022 summary, and write
    the history of every workflow the scenario started."""
    from tests.stack import fresh_stack, load_file

    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        async with fresh_stack(server.get_uri()) as stack:
            async with build_worker(stack.client, stack.settings, stack.engine, stack.task_queue):
                await load_file(stack)
                await summaries.run_summary(stack.client, stack.settings, 2022, "record")
                for workflow_id, name in MEIHUA_WORKFLOWS.items():
                    for path in await save_chain(stack.client, workflow_id, name):
                        print(f"wrote {path.relative_to(HERE.parent.parent)}")
        server.cleanup()


async def record_fanout() -> None:
    """A fanned-out 叫应 on a dev server (the time-skipping server loses an update that waits
    across a skipped timer): two 街镇, one answers by phone, the other is 未叫醒 through its
    backup; the warning and each batch are written (``fanout_answered``, ``batch_answered-*``)."""
    from models.fanout import CallLevel, FanoutAck, FanoutIssue, FanoutView
    from tests.stack import fresh_stack
    from yingji.services import fanout
    from yingji.services import unit as units
    from yingji.stores import responsible

    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        async with fresh_stack(server.get_uri()) as stack:
            settings = stack.settings.model_copy(
                update={
                    "warning_call_window_minutes": 0.05,
                    "warning_escalation_wait_minutes": 0.05,
                    "warning_progress_seconds": 0.5,
                }
            )
            await units.import_csv(
                stack.engine,
                "code,name,level,parent_code,district\nRF-1,甲镇,town,,录制区\n"
                "RF-2,乙镇,town,,录制区\n".encode(),
            )
            await responsible.import_csv(
                stack.engine,
                "unit,role,name,phone,order\nRF-1,党政主要负责人,王强,13900000001,1\n"
                "RF-2,党政主要负责人,李四,13900000002,1\n"
                "RF-2,党政主要负责人,赵六,13900000003,2\n".encode(),
            )
            async with build_worker(stack.client, settings, stack.engine, stack.task_queue):
                issue = FanoutIssue(
                    warning_id="REC-FANOUT",
                    title="台风红色预警",
                    district="录制区",
                    issued_by="值班员",
                    level=CallLevel.TOWN,
                )
                await fanout.issue(stack.client, settings, issue, engine=stack.engine)
                await fanout.laid_out(stack.client, issue.warning_id)
                await fanout.acknowledge(
                    stack.client, stack.engine, issue.warning_id, FanoutAck(person="13900000001")
                )
                # The backup answers while the first is still being called (answers are
                # written to their rows, then signalled: the histories since "fanout-ack-in-db";
                # fanout_answered and batch_answered-* are those of answers by update).
                await asyncio.sleep(1.5)
                await fanout.acknowledge(
                    stack.client, stack.engine, issue.warning_id, FanoutAck(person="赵六")
                )
                handle = stack.client.get_workflow_handle(
                    "warning:REC-FANOUT", result_type=FanoutView
                )
                await handle.result()
                written = await save_chain(stack.client, "warning:REC-FANOUT", "fanout_signalled")
                for batch in ("RF-1", "RF-2"):
                    written += await save_chain(
                        stack.client, f"warning:REC-FANOUT:{batch}", f"batch_signalled-{batch}"
                    )
                for path in written:
                    print(f"wrote {path.relative_to(HERE.parent.parent)}")
        server.cleanup()


async def main(names: list[str]) -> None:
    if "fanout" in names:
        await record_fanout()
        names = [n for n in names if n != "fanout"]
        if not names:
            return
    if "meihua" in names:
        await record_meihua()
        names = [n for n in names if n != "meihua"]
        if not names:
            return
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {sorted(SCENARIOS)}")
    HERE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        url = server.get_uri()
        DATABASE_URL.append(url)
        await migrate(url)
        engine = make_engine(url)
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=venv_binary("temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        await ensure_search_attributes(env.client, "default")
        async with env, build_worker(env.client, make_settings(), engine, QUEUE):
            for name in names or list(SCENARIOS):
                workflow_id = await SCENARIOS[name](env, f"REC-{name.replace('_', '-')}")
                for path in await save_chain(env.client, workflow_id, name):
                    print(f"wrote {path.relative_to(HERE.parent.parent)}")
        await engine.dispose()
        server.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
