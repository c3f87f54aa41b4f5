"""Replay every committed history against the current workflow code.

A change to a workflow that alters the commands it issues for an existing history fails here;
guard such a change with ``workflow.patched`` (see tests/record_histories.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from models.plan import PlanOutcome, PlanWorkflowInput
from worker import WORKFLOWS, workflow_runner
from workflows.disaster import DisasterWorkflow
from workflows.drill import DrillWorkflow, ProgrammeWorkflow
from workflows.fanout import WarningBatchWorkflow, WarningFanoutWorkflow
from workflows.plan import PlanWorkflow
from workflows.summary import SummaryWorkflow
from workflows.typhoon import TyphoonWorkflow
from workflows.warning import WarningWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


#: Each registered workflow type and the file prefix of its committed histories.
HISTORY_PREFIX = {
    PlanWorkflow: "plan",
    DrillWorkflow: "drill",
    ProgrammeWorkflow: "programme",
    TyphoonWorkflow: "typhoon",
    WarningWorkflow: "warning",
    DisasterWorkflow: "disaster",
    SummaryWorkflow: "summary",
    WarningFanoutWorkflow: "fanout",
    WarningBatchWorkflow: "batch",
}


def test_every_workflow_type_has_committed_histories() -> None:
    recorded = {path.name.split("_")[0] for path in HISTORIES}
    for wf in WORKFLOWS:
        assert wf in HISTORY_PREFIX, f"{wf.__name__} has no history prefix"
        assert HISTORY_PREFIX[wf] in recorded, f"no committed history for {wf.__name__}"
    # The lifecycle history crosses continue-as-new into the next version.
    assert any(p.name == "plan_lifecycle.run2.json" for p in HISTORIES)


def test_the_example_scenario_has_histories_of_every_workflow_it_starts() -> None:
    """Recorded from examples/jiading-2022-meihua.yaml (``python -m tests.record_histories
    meihua``); a change that cannot replay the past year fails here."""
    from tests.record_histories import MEIHUA_WORKFLOWS

    names = {p.name.split(".")[0] for p in HISTORIES}
    assert set(MEIHUA_WORKFLOWS.values()) <= names
    assert {n.split("_")[0] for n in MEIHUA_WORKFLOWS.values()} == set(HISTORY_PREFIX.values()) - {
        "programme",  # a scenario has no drill programme; programme_year.run1.json covers it
        # a past year's 叫应 is a WarningCall; fanout_answered and batch_answered-* cover these
        "fanout",
        "batch",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    await replayer.replay_workflow(_load(path))


@workflow.defn(name="PlanLifecycle", sandboxed=False)
class _ChangedPlanWorkflow(PlanWorkflow):
    """The plan workflow with one extra timer up front: an unguarded, incompatible change."""

    @workflow.run
    async def run(self, data: PlanWorkflowInput) -> PlanOutcome:
        await workflow.sleep(1)
        return await super().run(data)


async def test_an_unguarded_change_fails_replay() -> None:
    replayer = Replayer(workflows=[_ChangedPlanWorkflow], data_converter=pydantic_data_converter)
    with pytest.raises(Exception, match=r"[Nn]ondetermin"):
        await replayer.replay_workflow(
            _load(Path(__file__).parent / "histories" / "plan_withdrawn.run1.json")
        )
