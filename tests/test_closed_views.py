"""A closed workflow's view comes from PostgreSQL (issue #18, item 3): the first read of a
closed plan's or 叫应's view keeps it (``closed_view``, by workflow id and run id), later reads
need no worker; a running workflow answers live; a newer run of a reused id never gets the
older run's view. On the time-skipping server."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from models.common import CHINA_TZ
from models.plan import CloseInput, PlanOutcome, PlanStage, PlanView, PlanWorkflowInput, SubmitDraft
from models.warning import AckInput, CallTarget, Contact, WarningIssue
from tests.conftest import make_settings
from tests.helpers import flood_plan
from yingji.services import plan as plans
from yingji.services import warning as warnings
from yingji.stores import closed as closed_store

#: Long enough for a live answer; a query with no worker never comes within it.
NO_WORKER = 3.0


def worker(client: Client, engine: Any, task_queue: str) -> Any:
    from worker import build_worker

    return build_worker(client, make_settings(), engine, task_queue)


async def withdraw(client: Client, code: str) -> PlanView:
    closing = CloseInput(by="张敏", reason="并入总体预案")
    view = await plans.act(client, code, "withdraw", closing)
    await plans.plan_handle(client, code).result()
    return view


async def no_worker_answers(client: Client, code: str) -> None:
    """What a read of the view would cost without the kept one: a query no worker answers."""
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(plans.show(client, code), NO_WORKER)


async def test_a_closed_plan_is_read_from_postgres_once_kept(
    ts_env: WorkflowEnvironment, engine: Any, task_queue: str, code: str
) -> None:
    client = ts_env.client
    wid = plans.plan_workflow_id(code)
    async with worker(client, engine, task_queue):
        await plans.create_plan(client, make_settings(), flood_plan(code), task_queue=task_queue)
        running = await plans.show(client, code, engine)
        assert running.stage is PlanStage.DRAFTING
        assert await closed_store.kept_runs(engine, wid) == []  # a live view is never kept
        await plans.act(client, code, "submit", SubmitDraft(by="张敏"))
        moved = await plans.show(client, code, engine)
        assert moved.stage is PlanStage.CONSULTATION and moved.last_seq > running.last_seq
        final = await withdraw(client, code)
        first = await plans.show(client, code, engine)  # queried once, and kept
        assert first == final and first.stage is PlanStage.WITHDRAWN
        run_id = (await plans.plan_handle(client, code).describe()).run_id
        kept = await closed_store.kept_runs(engine, wid)
        assert [(k["run_id"], k["workflow_type"]) for k in kept] == [(run_id, "PlanLifecycle")]

    # No worker: a query would never come; the kept view comes at once, as it was.
    await no_worker_answers(client, code)
    got = await asyncio.wait_for(plans.show(client, code, engine), NO_WORKER)
    assert got == final and got.last_seq == final.last_seq  # the same ETag
    assert len(await closed_store.kept_runs(engine, wid)) == 1  # kept once


async def test_a_reused_id_never_gets_the_older_runs_view(
    ts_env: WorkflowEnvironment, engine: Any, task_queue: str, code: str
) -> None:
    """The id of a closed plan started again (as once Temporal has forgotten the old run, or
    a reset would): its view is the new run's, live while it runs, kept anew once closed."""
    client = ts_env.client
    wid = plans.plan_workflow_id(code)
    async with worker(client, engine, task_queue):
        await plans.create_plan(client, make_settings(), flood_plan(code), task_queue=task_queue)
        old = await withdraw(client, code)
        assert await plans.show(client, code, engine) == old  # kept
        again = flood_plan(code).model_copy(update={"name": "嘉定区防汛防台专项应急预案（重编）"})
        await client.start_workflow(
            plans.WORKFLOW_TYPE,
            PlanWorkflowInput(create=again, rules=plans.rules_from(make_settings())),
            id=wid,
            task_queue=task_queue,
            result_type=PlanOutcome,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        live = await plans.show(client, code, engine)
        assert live.stage is PlanStage.DRAFTING and live.name == again.name
        new = await withdraw(client, code)
        assert new.name == again.name
        got = await plans.show(client, code, engine)
        assert got == new and got != old
        assert len(await closed_store.kept_runs(engine, wid)) == 2  # one per run
    # With no worker, each run's view is still its own.
    assert await asyncio.wait_for(plans.show(client, code, engine), NO_WORKER) == new


async def test_a_closed_warning_is_read_from_postgres(
    ts_env: WorkflowEnvironment, engine: Any, task_queue: str, code: str
) -> None:
    """A 叫应 of before the fan-out (``WarningCall``), loaded from a past day and ended."""
    client = ts_env.client
    issued = datetime(2023, 7, 28, 10, tzinfo=CHINA_TZ)
    issue = WarningIssue(
        warning_id=code,
        title="暴雨橙色预警",
        district="嘉定区",
        issued_by="区防指",
        issued_at=issued,
        targets=[
            CallTarget(person=Contact(name="甲", phone="13800000001"), unit="南翔镇"),
            CallTarget(person=Contact(name="乙", phone="13800000002"), unit="安亭镇"),
        ],
    )
    async with worker(client, engine, task_queue):
        handle = await warnings.issue_warning(client, make_settings(), issue, task_queue=task_queue)
        ack = AckInput(person="甲", at=issued + timedelta(minutes=2))
        await warnings.acknowledge(client, code, ack)
        running = await warnings.show(client, code, engine)
        assert not running.finished
        assert await closed_store.kept_runs(engine, warnings.warning_workflow_id(code)) == []
        await warnings.end_history(client, code)
        await handle.result()
        final = await warnings.show(client, code, engine)
        assert final.finished
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(warnings.show(client, code), NO_WORKER)
    got = await asyncio.wait_for(warnings.show(client, code, engine), NO_WORKER)
    assert got == final
