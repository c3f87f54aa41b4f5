"""SIGKILL the worker in the middle of a lifecycle; another one finishes it, losing nothing."""

from __future__ import annotations

from temporalio.client import WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from models.plan import (
    ApproveInput,
    FileInput,
    IssueInput,
    PlanStage,
    ReviewInput,
    ReviewOutcome,
    SubmitDraft,
)
from tests.conftest import make_settings
from tests.helpers import db_events, db_plan, flood_plan, kill, start_worker, view
from workflows.plan import PlanWorkflow
from yingji.services.plan import create_plan, plan_handle


async def test_killed_worker_loses_and_duplicates_nothing(
    dev_env: WorkflowEnvironment, engine, database_url: str, task_queue: str, code: str
) -> None:
    client = dev_env.client
    address = client.service_client.config.target_host
    settings = make_settings()
    worker = start_worker(address, database_url, task_queue)
    try:
        await create_plan(client, settings, flood_plan(code), task_queue=task_queue)
        h = plan_handle(client, code)
        await h.execute_update(PlanWorkflow.submit, SubmitDraft(by="张敏"))
        review = ReviewInput(reviewer="专家组", opinion="同意", outcome=ReviewOutcome.PASS)
        await h.execute_update(PlanWorkflow.review, review)

        # Accepted, and the worker dies before it has projected and answered.
        pending = await h.start_update(
            PlanWorkflow.review, review, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        kill(worker)
        worker = start_worker(address, database_url, task_queue)
        assert (await pending.result()).stage is PlanStage.LEGALITY_REVIEW

        await h.execute_update(PlanWorkflow.review, review)
        await h.execute_update(PlanWorkflow.approve, ApproveInput(approver="区政府常务会议"))
        await h.execute_update(
            PlanWorkflow.issue, IssueInput(document_number="嘉府办发〔2026〕3号", issuer="区政府办")
        )
        pending = await h.start_update(
            PlanWorkflow.file,
            FileInput(filed_with="上海市应急管理局", filed_by="张敏"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        kill(worker)
        worker = start_worker(address, database_url, task_queue)
        final = await pending.result()
        assert final.stage is PlanStage.IN_FORCE
        assert (await view(client, code)).last_seq == final.last_seq
    finally:
        kill(worker)

    events = await db_events(engine, code)
    assert [e["kind"] for e in events] == [
        "created",
        "submitted",
        "review_passed",
        "review_passed",
        "review_passed",
        "approved",
        "issued",
        "filed",
        "in_force",
    ]
    assert [e["seq"] for e in events] == list(range(1, final.last_seq + 1))
    row = await db_plan(engine, code)
    assert row is not None and (row["stage"], row["last_seq"]) == ("in_force", final.last_seq)
