"""Record workflow histories for the replay tests.

    .venv/bin/python -m tests.record_histories

Runs each scenario on the time-skipping server with an embedded PostgreSQL and writes every run
of every workflow (continue-as-new chains included) to ``tests/histories/``. Commit the files:
replaying them in CI is what catches a non-deterministic change to a workflow. Re-record only
when a change is deliberately incompatible and guarded by ``workflow.patched``, and keep the old
files next to the new ones.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pgserver
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from models.plan import (
    CloseInput,
    EvaluateInput,
    EvaluationOutcome,
    FileInput,
    ReviewInput,
    ReviewOutcome,
    RevisionCause,
    RevisionTrigger,
    SubmitDraft,
)
from tests.conftest import make_settings, venv_binary
from tests.helpers import drive_to_approved, eventually, flood_plan, issue, view
from worker import build_worker
from workflows.plan import PlanWorkflow
from yingji.db import make_engine, migrate
from yingji.plans import create_plan, plan_handle

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


SCENARIOS: dict[str, Callable[[WorkflowEnvironment, str], Awaitable[None]]] = {
    "plan_lifecycle": lifecycle,
    "plan_triggers": triggers,
    "plan_withdrawn": withdrawn,
}


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


async def main() -> None:
    HERE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        url = server.get_uri()
        await migrate(url)
        engine = make_engine(url)
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=venv_binary("temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        settings = make_settings()
        async with env, build_worker(env.client, settings, engine, QUEUE):
            for name, scenario in SCENARIOS.items():
                code = f"REC-{name}"
                await create_plan(env.client, settings, flood_plan(code), task_queue=QUEUE)
                await scenario(env, code)
                for path in await save_chain(env.client, f"plan:{code}", name):
                    print(f"wrote {path.relative_to(HERE.parent.parent)}")
        await engine.dispose()
        server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
