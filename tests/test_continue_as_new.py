"""Continue-as-new when the server suggests it: nothing sent is lost across the hand-over."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from models.plan import RevisionCause, RevisionTrigger
from tests.conftest import SUGGEST_AFTER_EVENTS, make_settings
from tests.helpers import db_events, eventually, flood_plan, view
from worker import build_worker
from workflows.plan import PlanWorkflow
from yingji.services.plan import create_plan, plan_handle


async def test_suggested_continue_as_new_keeps_every_signal(
    small_history_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    client = small_history_env.client
    settings = make_settings()
    paced, burst = 30, 20
    count = paced + burst

    def trigger(i: int) -> RevisionTrigger:
        return RevisionTrigger(
            cause=RevisionCause.RISK_CHANGED,
            detail=f"风险点 {i}",
            source="风险普查",
            trigger_id=f"risk-{i}",
        )

    async with build_worker(client, settings, engine, task_queue):
        started = await create_plan(client, settings, flood_plan(code), task_queue=task_queue)
        h = plan_handle(client, code)
        # Paced: each signal is handled before the next, so hand-over timing is observable.
        for i in range(paced):
            await h.signal(PlanWorkflow.trigger_revision, trigger(i))
            await eventually(
                lambda: view(client, code), lambda v, n=i + 1: len(v.draft_triggers) == n
            )

        async def runs_of_plan() -> list:
            return [w async for w in client.list_workflows(f"WorkflowId = 'plan:{code}'")]

        runs = await eventually(runs_of_plan, lambda runs: len(runs) >= 3)
        assert started.first_execution_run_id in {r.run_id for r in runs}
        # Each run handed over within a step of the suggestion, far from the 10,240 warning.
        assert max(r.history_length for r in runs) < SUGGEST_AFTER_EVENTS + 20

        # A burst sent without waiting still arrives whole across hand-overs.
        for i in range(paced, count):
            await h.signal(PlanWorkflow.trigger_revision, trigger(i))
        v = await eventually(lambda: view(client, code), lambda v: len(v.draft_triggers) == count)
        # Signals are projected shortly after they are handled, by whichever run holds them.
        events = await eventually(
            lambda: db_events(engine, code), lambda events: len(events) >= v.last_seq
        )
    assert [t.trigger_id for t in v.draft_triggers] == [f"risk-{i}" for i in range(count)]
    assert [e["seq"] for e in events] == list(range(1, v.last_seq + 1))
    assert sum(e["kind"] == "trigger_noted_for_draft" for e in events) == count


async def test_a_long_disaster_process_continues_as_new_and_stays_open(
    small_history_env: WorkflowEnvironment, engine, task_queue: str, code: str
) -> None:
    """A disaster process opened a few days back fills its history with daily 续报 slots,
    reminders and escalations. When Temporal suggested a new run, the process used to end there,
    still open, and refuse every later report. It now continues as new and carries on."""
    from datetime import UTC, datetime, timedelta

    from models.common import CHINA_TZ
    from models.disaster import ReportKind
    from tests.test_disaster import MEIHUA, opened, report
    from yingji.services import disaster as disasters

    client = small_history_env.client
    settings = make_settings()
    occurred = datetime.now(UTC) - timedelta(days=12)
    async with build_worker(client, settings, engine, task_queue):
        handle = await disasters.open_disaster(
            client, settings, opened(code, occurred), task_queue=task_queue
        )
        first_run = handle.result_run_id
        # twelve overdue 续报 slots, each reminded and escalated: far past 40 events
        await eventually(
            lambda: client.get_workflow_handle(handle.id).describe(),
            lambda d: d.run_id != first_run,
            within=60,
        )
        description = await client.get_workflow_handle(handle.id).describe()
        assert description.status.name == "RUNNING"
        view = await disasters.submit(
            client, code, report(ReportKind.INITIAL, f"{code}-I", occurred, MEIHUA)
        )
        assert not view.closed and f"{code}-I" in {r.report_id for r in view.reports}
        # the slots opened before the hand-over travelled with it
        assert {
            "initial",
            "update:" + (occurred + timedelta(days=1)).astimezone(CHINA_TZ).date().isoformat(),
        } <= {slot.key for slot in view.slots}
