"""The projection activity writes each event and revision once, whatever is retried."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import text
from temporalio.testing import ActivityEnvironment

from activities.plan import PlanActivities
from models.plan import (
    ALLOWED_ACTIONS,
    Deadline,
    DeadlineKind,
    PlanEvent,
    PlanKind,
    PlanLevel,
    PlanProjection,
    PlanStage,
    PlanView,
    RevisionCause,
    RevisionRecord,
    RevisionTrigger,
)
from tests.helpers import db_events, db_plan


def _view(code: str, stage: PlanStage, seq: int, version: int = 1, **extra: object) -> PlanView:
    now = datetime(2024, 9, 27, 2, 0, tzinfo=UTC)
    fields: dict = dict(
        code=code,
        name="嘉定区地震应急预案",
        kind=PlanKind.SPECIAL,
        level=PlanLevel.DISTRICT,
        unit="嘉定区应急管理局",
        stage=stage,
        stage_label=stage.label,
        stage_since=now,
        version=version,
        in_force_version=None,
        allowed_actions=list(ALLOWED_ACTIONS[stage]),
        deadlines=[],
        filing_overdue=False,
        evaluation_overdue=False,
        issue=None,
        filing=None,
        reviews=[],
        approval=None,
        evaluations=[],
        revisions=[],
        pending_triggers=[],
        draft_triggers=[],
        last_seq=seq,
    )
    fields.update(extra)
    return PlanView(**fields)


def _event(seq: int, stage: PlanStage, kind: str = "x") -> PlanEvent:
    return PlanEvent(
        seq=seq,
        at=datetime(2024, 9, 27, 2, seq, tzinfo=UTC),
        kind=kind,
        version=1,
        stage_from=None,
        stage_to=stage,
        actor="张敏",
        detail={"n": seq},
    )


async def test_retried_projection_writes_nothing_twice(engine, code: str) -> None:
    act = PlanActivities(engine)
    env = ActivityEnvironment()
    batch = PlanProjection(
        workflow_id=f"plan:{code}",
        view=_view(code, PlanStage.CONSULTATION, 2),
        events=[_event(1, PlanStage.DRAFTING, "created"), _event(2, PlanStage.CONSULTATION)],
    )
    first = await env.run(act.project_plan, batch)
    again = await env.run(act.project_plan, batch)
    assert (first.events_written, first.snapshot_applied) == (2, True)
    assert (again.events_written, again.events_already_present, again.snapshot_applied) == (
        0,
        2,
        False,
    )
    assert [e["seq"] for e in await db_events(engine, code)] == [1, 2]


async def test_older_snapshot_never_overwrites_newer(engine, code: str) -> None:
    act = PlanActivities(engine)
    env = ActivityEnvironment()
    due = Deadline(kind=DeadlineKind.FILING, due=date(2024, 10, 30), overdue=True, exact=True)
    newer = PlanProjection(
        workflow_id=f"plan:{code}",
        view=_view(code, PlanStage.ISSUED, 3, deadlines=[due], filing_overdue=True),
        events=[_event(3, PlanStage.ISSUED)],
    )
    older = PlanProjection(
        workflow_id=f"plan:{code}",
        view=_view(code, PlanStage.CONSULTATION, 2),
        events=[_event(1, PlanStage.DRAFTING), _event(2, PlanStage.CONSULTATION)],
    )
    await env.run(act.project_plan, newer)
    late = await env.run(act.project_plan, older)
    assert late.events_written == 2 and not late.snapshot_applied
    row = await db_plan(engine, code)
    assert row is not None
    assert (row["stage"], row["last_seq"], row["filing_due"], row["filing_overdue"]) == (
        "issued",
        3,
        date(2024, 10, 30),
        True,
    )
    assert [e["seq"] for e in await db_events(engine, code)] == [1, 2, 3]


async def test_revisions_keyed_by_version(engine, code: str) -> None:
    act = PlanActivities(engine)
    env = ActivityEnvironment()
    revision = RevisionRecord(
        version=2,
        from_version=1,
        started_at=datetime(2024, 6, 20, tzinfo=UTC),
        triggers=[
            RevisionTrigger(
                cause=RevisionCause.RESPONSE_OR_DRILL_FINDINGS,
                detail="嘉安-2024 演练发现问题",
                source="drill:嘉安-2024",
                trigger_id="f1",
            )
        ],
    )
    data = PlanProjection(
        workflow_id=f"plan:{code}",
        view=_view(code, PlanStage.REVISION, 1, revisions=[revision]),
        events=[_event(1, PlanStage.REVISION)],
    )
    await env.run(act.project_plan, data)
    await env.run(act.project_plan, data)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT version, causes FROM plan_revision WHERE plan_code = :c"), {"c": code}
            )
        ).all()
    assert [(r.version, r.causes) for r in rows] == [(2, ["response_or_drill_findings"])]


async def test_drill_projection_is_idempotent_and_never_goes_back(engine, code: str) -> None:
    from activities.drill import DrillActivities
    from models.drill import (
        DRILL_ALLOWED,
        CorrectiveAction,
        DrillEvent,
        DrillProjection,
        DrillStage,
        DrillType,
        DrillView,
        Finding,
        FindingCategory,
        Severity,
    )
    from tests.helpers import rows

    def snapshot(stage: DrillStage, seq: int, with_findings: bool) -> DrillProjection:
        findings = (
            [
                Finding(
                    number=1,
                    severity=Severity.HIGH,
                    category=FindingCategory.EQUIPMENT,
                    description="冲锋舟不足",
                    plan_defect=False,
                    plan_code=None,
                )
            ]
            if with_findings
            else []
        )
        actions = (
            [
                CorrectiveAction(
                    number=1,
                    finding=1,
                    description="补充冲锋舟",
                    owner="区水务局",
                    due_on=date(2024, 7, 30),
                )
            ]
            if with_findings
            else []
        )
        view = DrillView(
            code=code,
            name="嘉安-2024",
            drill_type=DrillType.COMPREHENSIVE,
            scenario="强降雨",
            organiser="嘉定区应急管理局",
            participants=[],
            linked_plans=["JD-FXFT"],
            site="远香湖",
            programme_id=None,
            stage=stage,
            stage_label=stage.label,
            allowed_actions=list(DRILL_ALLOWED[stage]),
            scheduled_on=date(2024, 6, 18),
            postponements=[],
            reminders_sent=[],
            date_passed_unconducted=False,
            conduct=None,
            evaluation_due=None,
            evaluation_overdue=False,
            evaluation=None,
            findings=findings,
            actions=actions,
            open_actions=len(actions),
            overdue_actions=0,
            last_seq=seq,
        )
        events = [
            DrillEvent(
                seq=n, at=datetime(2024, 6, 18, tzinfo=UTC), kind="k", stage=stage, actor="a"
            )
            for n in range(1, seq + 1)
        ]
        return DrillProjection(workflow_id=f"drill:{code}", view=view, events=events)

    act = DrillActivities(engine)
    env = ActivityEnvironment()
    newer = snapshot(DrillStage.EVALUATED, 3, with_findings=True)
    assert (await env.run(act.project_drill, newer)).events_written == 3
    again = await env.run(act.project_drill, newer)
    assert (again.events_written, again.snapshot_applied) == (0, False)
    stale = await env.run(act.project_drill, snapshot(DrillStage.PLANNED, 1, with_findings=False))
    assert not stale.snapshot_applied

    drill = await rows(engine, "SELECT stage, last_seq FROM drill WHERE code = :c", c=code)
    assert drill == [{"stage": "evaluated", "last_seq": 3}]
    for table in ("drill_finding", "corrective_action", "drill_plan"):
        found = await rows(
            engine, f"SELECT count(*) AS n FROM {table} WHERE drill_code = :c", c=code
        )
        assert found == [{"n": 1}], table
    events = await rows(engine, "SELECT seq FROM drill_event WHERE drill_code = :c", c=code)
    assert [e["seq"] for e in events] == [1, 2, 3]
