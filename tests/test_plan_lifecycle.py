"""The plan lifecycle on the time-skipping server: 20 working days and 3 years pass in seconds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.common import CHINA_TZ
from models.plan import (
    DeadlineKind,
    EvaluateInput,
    EvaluationOutcome,
    FileInput,
    PlanKind,
    PlanLevel,
    PlanStage,
    ReviewInput,
    ReviewOutcome,
    RevisionCause,
    RevisionTrigger,
    SubmitDraft,
)
from tests.conftest import make_settings
from tests.helpers import (
    db_events,
    db_plan,
    drive_to_approved,
    eventually,
    flood_plan,
    issue,
    view,
)
from workflows.plan import PlanWorkflow
from yingji.core.workdays import add_working_days
from yingji.services.plan import create_plan, plan_handle


async def test_draft_to_in_force_through_evaluation_and_revision(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    client = ts_client
    await create_plan(client, make_settings(), flood_plan(code), task_queue=task_queue)
    h = plan_handle(client, code)

    v = await h.execute_update(PlanWorkflow.submit, SubmitDraft(by="张敏"))
    assert v.stage is PlanStage.CONSULTATION
    v = await h.execute_update(
        PlanWorkflow.review,
        ReviewInput(
            reviewer="区水务局", opinion="补充低洼地区转移路线", outcome=ReviewOutcome.RETURN
        ),
    )
    assert v.stage is PlanStage.DRAFTING
    assert (v.reviews[-1].reviewer, v.reviews[-1].outcome) == ("区水务局", ReviewOutcome.RETURN)

    v = await drive_to_approved(client, code)
    assert v.stage is PlanStage.APPROVED
    assert [r.stage for r in v.reviews[1:]] == [
        PlanStage.CONSULTATION,
        PlanStage.EXPERT_REVIEW,
        PlanStage.LEGALITY_REVIEW,
    ]
    assert v.approval is not None and v.approval.collective_discussion

    v = await issue(client, code)
    today = (await ts_env.get_current_time()).astimezone(CHINA_TZ).date()
    expected_due, exact = add_working_days(today, 20)
    assert v.stage is PlanStage.ISSUED
    filing = next(d for d in v.deadlines if d.kind is DeadlineKind.FILING)
    assert (filing.due, filing.exact, filing.overdue) == (expected_due, exact, False)
    evaluation = next(d for d in v.deadlines if d.kind is DeadlineKind.EVALUATION)
    assert evaluation.due == today.replace(year=today.year + 3)

    # The filing deadline passes: the plan is flagged until it is filed.
    await ts_env.sleep(timedelta(days=(expected_due - today).days + 2))
    v = await view(client, code)
    assert v.stage is PlanStage.ISSUED and v.filing_overdue
    row = await eventually(lambda: db_plan(engine, code), lambda r: r["filing_overdue"])
    assert row["filing_due"] == expected_due

    v = await h.execute_update(
        PlanWorkflow.file, FileInput(filed_with="上海市应急管理局", filed_by="张敏")
    )
    assert v.stage is PlanStage.IN_FORCE and v.in_force_version == 1
    assert not v.filing_overdue
    assert v.filing is not None and v.filing.late_by_days >= 1
    assert [d.kind for d in v.deadlines] == [DeadlineKind.EVALUATION]

    # Three years on, the evaluation opens by itself.
    await ts_env.sleep(timedelta(days=3 * 366))
    v = await view(client, code)
    assert v.stage is PlanStage.UNDER_EVALUATION
    v = await h.execute_update(
        PlanWorkflow.evaluate,
        EvaluateInput(
            evaluator="第三方评估组", outcome=EvaluationOutcome.STILL_VALID, findings="适用"
        ),
    )
    now = (await ts_env.get_current_time()).astimezone(CHINA_TZ).date()
    assert v.stage is PlanStage.IN_FORCE
    assert v.deadlines[0].due == now.replace(year=now.year + 3)

    # A law changes: the plan enters revision and continues as new at version 2.
    await h.signal(
        PlanWorkflow.trigger_revision,
        RevisionTrigger(
            cause=RevisionCause.LAW_CHANGED,
            detail="《突发事件应对法》修订",
            source="值班员 李强",
            trigger_id="law-2024-06",
        ),
    )
    v = await eventually(lambda: view(client, code), lambda v: v.version == 2)
    assert v.stage is PlanStage.DRAFTING and v.in_force_version == 1
    assert v.revisions[-1].triggers[0].cause is RevisionCause.LAW_CHANGED
    assert v.issue is not None and v.issue.document_number == "嘉府办发〔2026〕12号"

    # The first event of a continued run is projected just after the hand-over: wait for it.
    events = await eventually(lambda: db_events(engine, code), lambda e: len(e) >= v.last_seq)
    assert [e["seq"] for e in events] == list(range(1, v.last_seq + 1))
    kinds = [e["kind"] for e in events]
    for expected in (
        "created",
        "returned_with_comments",
        "issued",
        "filing_overdue",
        "filed",
        "in_force",
        "evaluation_opened",
        "evaluated_still_valid",
        "revision_started",
        "revision_drafting",
    ):
        assert expected in kinds
    assert events[-1]["version"] == 2 and events[-1]["stage_to"] == "drafting"
    row = await db_plan(engine, code)
    assert row is not None and (row["stage"], row["version"], row["in_force_version"]) == (
        "drafting",
        2,
        1,
    )
    async with engine.connect() as conn:
        revisions = (
            await conn.execute(
                text("SELECT version, causes FROM plan_revision WHERE plan_code = :c"), {"c": code}
            )
        ).all()
    assert [(r.version, r.causes) for r in revisions] == [(2, ["law_changed"])]


async def test_illegal_transitions_are_rejected_before_history(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    client = ts_client
    await create_plan(client, make_settings(), flood_plan(code), task_queue=task_queue)
    h = plan_handle(client, code)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.execute_update(
            PlanWorkflow.file, FileInput(filed_with="上海市应急管理局", filed_by="张敏")
        )
    message = str(err.value.cause)
    assert "stage 'drafting' (编制)" in message
    assert "'file' is not allowed" in message
    assert "Allowed actions: submit, withdraw" in message

    await drive_to_approved(client, code)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.execute_update(
            PlanWorkflow.evaluate,
            EvaluateInput(evaluator="x", outcome=EvaluationOutcome.REVISE, findings="y"),
        )
    assert "Allowed actions: issue, withdraw" in str(err.value.cause)

    history = await h.fetch_history()
    accepted = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    # submit, three reviews, approve; the two rejected updates never reached history.
    assert len(accepted) == 5
    assert (await view(client, code)).stage is PlanStage.APPROVED


async def test_bad_dates_name_the_field(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    from models.plan import IssueInput

    client = ts_client
    await create_plan(client, make_settings(), flood_plan(code), task_queue=task_queue)
    await drive_to_approved(client, code)
    h = plan_handle(client, code)
    today = (await ts_env.get_current_time()).astimezone(CHINA_TZ).date()
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.execute_update(
            PlanWorkflow.issue,
            IssueInput(document_number="x", issuer="y", issued_on=today + timedelta(days=3)),
        )
    assert "issued_on" in str(err.value.cause) and "future" in str(err.value.cause)

    issued_on = today - timedelta(days=10)
    await h.execute_update(
        PlanWorkflow.issue, IssueInput(document_number="x", issuer="y", issued_on=issued_on)
    )
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.execute_update(
            PlanWorkflow.file,
            FileInput(filed_with="a", filed_by="b", filed_on=issued_on - timedelta(days=1)),
        )
    assert "filed_on" in str(err.value.cause) and "before" in str(err.value.cause)
    v = await view(client, code)
    assert v.stage is PlanStage.ISSUED and v.issue is not None
    assert v.issue.issued_on == issued_on


async def test_evaluation_revise_and_triggers_while_not_in_force(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    client = ts_client
    drill = RevisionTrigger(
        cause=RevisionCause.RESPONSE_OR_DRILL_FINDINGS,
        detail="嘉安-2024 演练发现转移路线不合理",
        source="drill:嘉安-2024",
        trigger_id="drill:嘉安-2024:finding-3",
    )
    await create_plan(client, make_settings(), flood_plan(code), task_queue=task_queue)
    h = plan_handle(client, code)
    # While the first version is drafted, a trigger is noted for the draft.
    await h.signal(PlanWorkflow.trigger_revision, drill)
    v = await eventually(lambda: view(client, code), lambda v: len(v.draft_triggers) == 1)
    assert v.stage is PlanStage.DRAFTING and v.version == 1

    await drive_to_approved(client, code)
    await issue(client, code)
    # Issued but not yet filed: a trigger waits, and a repeated one counts once.
    risk = drill.model_copy(
        update={
            "cause": RevisionCause.RISK_CHANGED,
            "trigger_id": "risk-1",
            "detail": "新建化工园区",
        }
    )
    await h.signal(PlanWorkflow.trigger_revision, risk)
    await h.signal(PlanWorkflow.trigger_revision, risk)
    await h.signal(PlanWorkflow.trigger_revision, drill)  # already seen while drafting
    v = await eventually(lambda: view(client, code), lambda v: len(v.pending_triggers) >= 1)
    assert [t.trigger_id for t in v.pending_triggers] == ["risk-1"]

    # Filing puts the plan in force, and the waiting cause opens revision at once.
    await h.execute_update(
        PlanWorkflow.file, FileInput(filed_with="上海市应急管理局", filed_by="张敏")
    )
    v = await eventually(lambda: view(client, code), lambda v: v.version == 2)
    assert v.stage is PlanStage.DRAFTING and v.in_force_version == 1
    assert [t.trigger_id for t in v.revisions[-1].triggers] == ["risk-1"]
    assert v.pending_triggers == []

    # Version 2 goes through and is evaluated as needing revision: version 3.
    await drive_to_approved(client, code)
    await issue(client, code)
    await h.execute_update(
        PlanWorkflow.file, FileInput(filed_with="上海市应急管理局", filed_by="张敏")
    )
    await h.execute_update(
        PlanWorkflow.evaluate,
        EvaluateInput(
            evaluator="区应急局",
            outcome=EvaluationOutcome.REVISE,
            findings="指挥机构调整",
            cause=RevisionCause.COMMAND_CHANGED,
        ),
    )
    v = await eventually(lambda: view(client, code), lambda v: v.version == 3)
    assert v.in_force_version == 2
    assert [r.version for r in v.revisions] == [2, 3]
    assert v.revisions[-1].triggers[0].cause is RevisionCause.COMMAND_CHANGED

    # The first event of a continued run is projected just after the hand-over: wait for it.
    events = await eventually(lambda: db_events(engine, code), lambda e: len(e) >= v.last_seq)
    assert [e["seq"] for e in events] == list(range(1, v.last_seq + 1))
    assert [e["kind"] for e in events].count("trigger_pending") == 1


async def test_withdraw_ends_the_workflow(
    ts_env: WorkflowEnvironment, ts_client: Client, engine, task_queue: str, code: str
) -> None:
    from models.plan import CloseInput

    client = ts_client
    await create_plan(client, make_settings(), flood_plan(code), task_queue=task_queue)
    h = plan_handle(client, code)
    v = await h.execute_update(PlanWorkflow.withdraw, CloseInput(by="张敏", reason="并入总体预案"))
    assert v.stage is PlanStage.WITHDRAWN
    outcome = await h.result()
    assert (outcome.stage, outcome.version) == (PlanStage.WITHDRAWN, 1)
    row = await db_plan(engine, code)
    assert row is not None and row["stage"] == "withdrawn"


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        (PlanKind.OVERALL, PlanLevel.CITY),
        (PlanKind.SPECIAL, PlanLevel.DISTRICT),
        (PlanKind.DEPARTMENTAL, PlanLevel.DISTRICT),
        (PlanKind.GRASSROOTS, PlanLevel.TOWN),
        (PlanKind.GRASSROOTS, PlanLevel.VILLAGE),
        (PlanKind.ENTERPRISE, PlanLevel.DISTRICT),
    ],
)
async def test_every_kind_and_level_reaches_in_force(
    ts_client: Client, engine, task_queue: str, code: str, kind, level
) -> None:
    client = ts_client
    plan = flood_plan(code).model_copy(update={"kind": kind, "level": level})
    await create_plan(client, make_settings(), plan, task_queue=task_queue)
    await drive_to_approved(client, code)
    await issue(client, code)
    v = await plan_handle(client, code).execute_update(
        PlanWorkflow.file, FileInput(filed_with="上级备案机关", filed_by="张敏")
    )
    assert (v.kind, v.level, v.stage) == (kind, level, PlanStage.IN_FORCE)
    row = await db_plan(engine, code)
    assert row is not None and (row["kind"], row["level"], row["stage"]) == (
        kind.value,
        level.value,
        "in_force",
    )
