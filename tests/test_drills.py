"""Drills on the time-skipping server: reminders, evaluation deadline, overdue actions, plans
reopened by findings, a year's programme, and coverage."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.common import CHINA_TZ
from models.drill import (
    ActionDoneInput,
    ActionInput,
    CancelInput,
    ConductInput,
    DrillCreate,
    DrillEvaluateInput,
    DrillStage,
    DrillType,
    FindingCategory,
    FindingInput,
    PostponeInput,
    ProgrammeInput,
    Severity,
)
from models.plan import FileInput, IssueInput, PlanKind, PlanStage, RevisionCause
from tests.conftest import make_settings
from tests.helpers import drive_to_approved, eventually, flood_plan, rows, view
from workflows.drill import DrillWorkflow, ProgrammeWorkflow
from workflows.plan import PlanWorkflow
from yingji.core.errors import DomainRefusal
from yingji.core.workdays import is_workday
from yingji.services.drill import (
    coverage,
    create_drill,
    default_cadence,
    drill_handle,
    start_programme,
)
from yingji.services.plan import create_plan, plan_handle


async def today(env: WorkflowEnvironment) -> date:
    return (await env.get_current_time()).astimezone(CHINA_TZ).date()


def jiaan(code: str, on: date, plans: list[str]) -> DrillCreate:
    return DrillCreate(
        code=code,
        name="嘉安-2024",
        drill_type=DrillType.COMPREHENSIVE,
        scenario="持续强降雨，远香湖堤防出现险情",
        organiser="嘉定区应急管理局",
        participants=["嘉定区水务局", "嘉定区消防救援支队"],
        linked_plans=plans,
        site="远香湖",
        scheduled_on=on,
    )


async def plan_in_force(
    client: Client,
    code: str,
    task_queue: str,
    kind: PlanKind = PlanKind.SPECIAL,
    issued_on: date | None = None,
) -> None:
    plan = flood_plan(code).model_copy(update={"kind": kind})
    await create_plan(client, make_settings(), plan, task_queue=task_queue)
    await drive_to_approved(client, code)
    h = plan_handle(client, code)
    await h.execute_update(
        PlanWorkflow.issue,
        IssueInput(document_number="嘉府办发〔2026〕1号", issuer="区政府办", issued_on=issued_on),
    )
    await h.execute_update(PlanWorkflow.file, FileInput(filed_with="市应急局", filed_by="张敏"))


async def notifications(engine, source: str) -> list[tuple[str, str]]:
    found = await rows(
        engine,
        "SELECT recipient, subject FROM notification WHERE source = :s ORDER BY key",
        s=source,
    )
    return [(r["recipient"], r["subject"]) for r in found]


async def test_drill_from_plan_to_closed_and_its_finding_reopens_the_plan(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    plan_code = f"{code}-P"
    await plan_in_force(ts_client, plan_code, task_queue)
    start = await today(ts_env)
    drill_day = start + timedelta(days=20)
    await create_drill(
        ts_client, make_settings(), jiaan(code, drill_day, [plan_code]), task_queue=task_queue
    )
    h = drill_handle(ts_client, code)

    # Reminders go out 7 days and 1 day before, to the organiser and every participant.
    await ts_env.sleep(timedelta(days=19, hours=12))
    v = await h.query(DrillWorkflow.view)
    assert v.reminders_sent == [f"{drill_day}:7d", f"{drill_day}:1d"]
    sent = await eventually(lambda: notifications(engine, f"drill:{code}"), lambda n: len(n) == 6)
    assert {r for r, _ in sent} == {"嘉定区应急管理局", "嘉定区水务局", "嘉定区消防救援支队"}
    assert all("嘉安-2024" in s and str(drill_day) in s for _, s in sent)

    await ts_env.sleep(timedelta(days=1))
    v = await h.execute_update(
        DrillWorkflow.conduct,
        ConductInput(
            participant_count=320,
            segments=["商场人员疏散", "有限空间事故救援", "下立交积水处置与水上救援"],
            observations="转移安置环节衔接不畅",
            by="指挥部",
        ),
    )
    assert v.stage is DrillStage.CONDUCTED
    assert v.evaluation_due == v.conduct.conducted_on + timedelta(days=15)

    # The evaluation report is late: flagged.
    await ts_env.sleep(timedelta(days=17))
    assert (await h.query(DrillWorkflow.view)).evaluation_overdue

    now = await today(ts_env)
    v = await h.execute_update(
        DrillWorkflow.evaluate,
        DrillEvaluateInput(
            evaluator="第三方评估组",
            third_party=True,
            summary="总体成功，转移安置流程需优化",
            findings=[
                FindingInput(
                    severity=Severity.HIGH,
                    category=FindingCategory.PLAN_SOUNDNESS,
                    description="预案未明确跨街镇转移路线",
                    plan_defect=True,
                    plan_code=plan_code,
                ),
                FindingInput(
                    severity=Severity.MEDIUM,
                    category=FindingCategory.EQUIPMENT,
                    description="冲锋舟数量不足",
                ),
            ],
            actions=[
                ActionInput(
                    finding=1,
                    description="修订转移路线",
                    owner="区应急局",
                    due_on=now + timedelta(days=30),
                ),
                ActionInput(
                    finding=2,
                    description="补充冲锋舟",
                    owner="区水务局",
                    due_on=now + timedelta(days=10),
                ),
            ],
        ),
    )
    assert v.stage is DrillStage.EVALUATED and v.evaluation.late
    assert v.findings[0].plan_notified

    # The plan defect put the plan into revision, with the drill as its cause.
    p = await eventually(lambda: view(ts_client, plan_code), lambda p: p.version == 2)
    assert p.stage is PlanStage.DRAFTING
    trigger = p.revisions[-1].triggers[0]
    assert trigger.cause is RevisionCause.RESPONSE_OR_DRILL_FINDINGS
    assert trigger.source == f"drill:{code}" and "跨街镇转移路线" in trigger.detail

    # Action 2 passes its due date undone: flagged, then done; action 1 done in time.
    await ts_env.sleep(timedelta(days=12))
    v = await h.query(DrillWorkflow.view)
    assert [a.overdue for a in v.actions] == [False, True] and v.overdue_actions == 1
    await h.execute_update(DrillWorkflow.action_done, ActionDoneInput(action=2, by="区水务局"))
    v = await h.execute_update(DrillWorkflow.action_done, ActionDoneInput(action=1, by="区应急局"))
    assert v.stage is DrillStage.CLOSED and v.open_actions == 0
    assert (await h.result()).stage is DrillStage.CLOSED

    drill = (await rows(engine, "SELECT * FROM drill WHERE code = :c", c=code))[0]
    actions = await rows(
        engine,
        "SELECT number, overdue, done_on IS NOT NULL AS done FROM corrective_action "
        "WHERE drill_code = :c ORDER BY number",
        c=code,
    )
    findings = await rows(
        engine,
        "SELECT number, plan_defect, plan_code FROM drill_finding "
        "WHERE drill_code = :c ORDER BY number",
        c=code,
    )
    seqs = await rows(
        engine, "SELECT seq FROM drill_event WHERE drill_code = :c ORDER BY seq", c=code
    )
    assert (drill["stage"], drill["participant_count"], drill["third_party_evaluation"]) == (
        "closed",
        320,
        True,
    )
    assert [tuple(a.values()) for a in actions] == [(1, False, True), (2, True, True)]
    assert [tuple(f.values()) for f in findings] == [(1, True, plan_code), (2, False, None)]
    assert [r["seq"] for r in seqs] == list(range(1, v.last_seq + 1))


async def test_postpone_moves_reminders_and_cancel_ends(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    start = await today(ts_env)
    first, second = start + timedelta(days=10), start + timedelta(days=40)
    await create_drill(ts_client, make_settings(), jiaan(code, first, []), task_queue=task_queue)
    h = drill_handle(ts_client, code)
    await ts_env.sleep(timedelta(days=4))  # the 7-day reminder for the first date goes out
    v = await h.execute_update(
        DrillWorkflow.postpone, PostponeInput(new_date=second, reason="台风贝碧嘉影响", by="值班员")
    )
    assert v.scheduled_on == second and v.postponements[0]["reason"] == "台风贝碧嘉影响"
    await ts_env.sleep(timedelta(days=34))
    v = await h.query(DrillWorkflow.view)
    assert v.reminders_sent == [f"{first}:7d", f"{second}:7d"]
    assert not v.date_passed_unconducted
    v = await h.execute_update(
        DrillWorkflow.cancel, CancelInput(reason="改为桌面推演", by="值班员")
    )
    assert v.stage is DrillStage.CANCELLED
    assert (await h.result()).stage is DrillStage.CANCELLED


async def test_a_drill_of_an_unknown_plan_is_refused(
    ts_env: WorkflowEnvironment, ts_client: Client, task_queue: str, code: str
) -> None:
    """`drill plan --plan NOPE` was accepted: every linked plan must exist, all unknown named."""
    start = await today(ts_env)
    await plan_in_force(ts_client, f"{code}-P", task_queue)
    drill = jiaan(code, start + timedelta(days=3), [f"{code}-P", "NOPE", "NOPE2"])
    with pytest.raises(DomainRefusal, match="linked_plans: no plan NOPE, NOPE2"):
        await create_drill(ts_client, make_settings(), drill, task_queue=task_queue)
    ok = drill.model_copy(update={"linked_plans": [f"{code}-P"]})
    await create_drill(ts_client, make_settings(), ok, task_queue=task_queue)
    assert (await drill_handle(ts_client, code).describe()).status is not None


async def test_bad_drill_input_is_rejected_with_the_field_named(
    ts_env: WorkflowEnvironment,
    ts_client: Client,
    engine,
    task_queue: str,
    code: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The linked plan is gone by the evaluation (its history past retention): started here
    # without the service's check that it exists.
    from yingji.services import drill as drill_service

    async def anything(client: Client, codes: list[str]) -> None:
        return None

    monkeypatch.setattr(drill_service, "refuse_unknown_plans", anything)
    start = await today(ts_env)
    await create_drill(
        ts_client,
        make_settings(),
        jiaan(code, start + timedelta(days=3), ["P-LINKED"]),
        task_queue=task_queue,
    )
    h = drill_handle(ts_client, code)

    async def rejected(update, data) -> str:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(update, data)
        return str(err.value.cause)

    assert "new_date" in await rejected(
        DrillWorkflow.postpone,
        PostponeInput(new_date=start - timedelta(days=1), reason="r", by="b"),
    )
    assert "conducted_on" in await rejected(
        DrillWorkflow.conduct,
        ConductInput(conducted_on=start + timedelta(days=1), participant_count=1, by="b"),
    )
    assert "Allowed actions: postpone, cancel, conduct" in await rejected(
        DrillWorkflow.action_done, ActionDoneInput(action=1, by="b")
    )
    await h.execute_update(DrillWorkflow.conduct, ConductInput(participant_count=12, by="b"))
    defect = FindingInput(
        severity=Severity.HIGH,
        category=FindingCategory.PLAN_SOUNDNESS,
        description="d",
        plan_defect=True,
        plan_code="P-OTHER",
    )
    message = await rejected(
        DrillWorkflow.evaluate, DrillEvaluateInput(evaluator="e", summary="s", findings=[defect])
    )
    assert "findings[0].plan_code" in message and "P-LINKED" in message
    late = ActionInput(finding=1, description="x", owner="o", due_on=start - timedelta(days=5))
    message = await rejected(
        DrillWorkflow.evaluate,
        DrillEvaluateInput(
            evaluator="e",
            summary="s",
            findings=[defect.model_copy(update={"plan_code": "P-LINKED"})],
            actions=[late],
        ),
    )
    assert "actions[0].due_on" in message
    # A model-level check names the field before anything is sent.
    with pytest.raises(ValueError, match=r"actions\[0\].finding"):
        DrillEvaluateInput(
            evaluator="e", summary="s", actions=[late.model_copy(update={"finding": 2})]
        )

    # The linked plan does not exist: the evaluation stands and says so.
    v = await h.execute_update(
        DrillWorkflow.evaluate,
        DrillEvaluateInput(
            evaluator="e",
            summary="s",
            findings=[defect.model_copy(update={"plan_code": "P-LINKED"})],
        ),
    )
    assert v.stage is DrillStage.CLOSED  # no corrective actions: nothing left to track
    assert not v.findings[0].plan_notified and v.findings[0].plan_notify_error
    assert (await h.result()).stage is DrillStage.CLOSED


def expected_dates(year: int) -> dict[str, date]:
    """The default cadence, worked out by hand: 15th monthly, 20 Feb/May/Aug/Nov, 18 June,
    each moved to the next working day."""

    def working(day: date) -> date:
        while not is_workday(day).is_workday:
            day += timedelta(days=1)
        return day

    out = {f"M{m:02d}": working(date(year, m, 15)) for m in range(1, 13)}
    out |= {f"Q{q}": working(date(year, 3 * q - 1, 20)) for q in range(1, 5)}
    out["A"] = working(date(year, 6, 18))
    return out


async def test_a_years_programme_starts_its_17_drills_on_their_dates(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    year = (await today(ts_env)).year + 1
    unit_code = code
    await start_programme(
        ts_client,
        make_settings(),
        ProgrammeInput(
            unit="西安市应急管理局",
            unit_code=unit_code,
            year=year,
            items=default_cadence(year),
            participants=["西安市消防救援支队"],
        ),
        task_queue=task_queue,
    )
    handle = ts_client.get_workflow_handle_for(
        ProgrammeWorkflow.run, f"programme:{unit_code}:{year}"
    )
    await ts_env.sleep(timedelta(days=400))
    result = await handle.result()
    assert [d.status for d in result.drills] == ["started"] * 17
    expected = expected_dates(year)
    assert {
        d.code.removeprefix(f"{unit_code}-{year}-"): d.scheduled_on for d in result.drills
    } == expected

    # Each drill is its own workflow, with its date, and projected with its programme.
    for suffix, day in expected.items():
        v = await drill_handle(ts_client, f"{unit_code}-{year}-{suffix}").query(DrillWorkflow.view)
        assert v.scheduled_on == day and v.programme_id == f"programme:{unit_code}:{year}"
    types = await rows(
        engine,
        "SELECT drill_type, count(*) AS n FROM drill WHERE programme_id = :p GROUP BY 1 ORDER BY 1",
        p=f"programme:{unit_code}:{year}",
    )
    assert [tuple(t.values()) for t in types] == [("comprehensive", 1), ("live", 12), ("single", 4)]


async def test_coverage_lists_plans_not_drilled_within_their_cadence(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    now = await today(ts_env)
    never = f"{code}-NEVER"
    drilled = f"{code}-DRILLED"
    fresh = f"{code}-FRESH"
    four_years_ago = now.replace(year=now.year - 4)
    await plan_in_force(ts_client, never, task_queue, issued_on=four_years_ago)
    await plan_in_force(ts_client, drilled, task_queue, issued_on=four_years_ago)
    await plan_in_force(ts_client, fresh, task_queue, kind=PlanKind.DEPARTMENTAL)
    await create_drill(
        ts_client, make_settings(), jiaan(code, now, [drilled]), task_queue=task_queue
    )
    await drill_handle(ts_client, code).execute_update(
        DrillWorkflow.conduct, ConductInput(participant_count=80, by="指挥部")
    )

    rows = {r.plan_code: r for r in await coverage(engine, make_settings(), now)}
    assert never in rows and drilled not in rows
    gap = rows[never]
    assert gap.never_drilled and gap.cadence_months == 36
    assert gap.due == four_years_ago.replace(year=four_years_ago.year + 3)
    assert gap.overdue_days == (now - gap.due).days > 300
    # Never drilled but not yet due: listed as a gap, not as overdue.
    assert rows[fresh].never_drilled and rows[fresh].overdue_days < 0
    everything = {
        r.plan_code for r in await coverage(engine, make_settings(), now, only_gaps=False)
    }
    assert drilled in everything


async def test_reminders_to_many_participants_go_out_in_chunks(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    """A drill with 2,100 participants hit 2,000 pending activities and stayed stuck. The list is
    bounded (500), and its reminders go out 100 at a time: the history never holds more than 100
    notifications in flight, and every participant is reminded once."""
    from temporalio.api.enums.v1 import EventType

    from workflows.drill import REMINDER_CHUNK

    people = [f"参演单位{i:03d}" for i in range(499)]
    drill = jiaan(code, await today(ts_env) + timedelta(days=10), []).model_copy(
        update={"participants": people}
    )
    await create_drill(ts_client, make_settings(), drill, task_queue=task_queue)
    h = drill_handle(ts_client, code)
    await ts_env.sleep(timedelta(days=4))  # the 7-day reminder
    sent = await eventually(
        lambda: notifications(engine, f"drill:{code}"), lambda n: len(n) == 500, within=60
    )
    assert len({r for r, _ in sent}) == 500
    in_flight: set[int] = set()
    peak = 0
    async for event in h.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "notify":
                in_flight.add(event.event_id)
                peak = max(peak, len(in_flight))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            in_flight.discard(event.activity_task_completed_event_attributes.scheduled_event_id)
    assert 0 < peak <= REMINDER_CHUNK
