"""The bad-input sweep: hypothesis throws malformed and hostile values at every update of every
workflow type and at the CLI's parsers. Nothing may crash a workflow (no failed workflow task
in its history), every refusal must say why (a model error naming its field, or the workflow's
InvalidInput with a message), and a refused update leaves the workflow exactly as it was.

Hypothesis runs in a thread; each example is sent on the test's event loop, where the client
and the worker live.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from models.common import CHINA_TZ
from models.disaster import DisasterOpen
from models.drill import DrillCreate, DrillType
from models.plan import PlanCreate, PlanKind, PlanLevel
from models.typhoon import LevelChange
from models.warning import AckInput, CallTarget, Contact, WarningIssue
from tests.conftest import make_settings
from tests.helpers import eventually, new_event
from worker import build_worker
from yingji import loader as scenario
from yingji.cli.common import parse, parse_date
from yingji.cli.typhoon import _event_id
from yingji.services import disaster as disasters
from yingji.services import drill as drills
from yingji.services import plan as plans
from yingji.services import typhoon as typhoons
from yingji.services import warning as warnings
from yingji.stores.typhoon import add_units

pytestmark = pytest.mark.timeout(300)

NOW = datetime.now(CHINA_TZ)

#: Values no field should crash on: empty, huge, negative, NUL, control characters, wrong types.
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "a\x00b", "９", "٣", "2024-02-30", "25:61", "-1", "1e309"]),
    st.datetimes().map(lambda d: d.isoformat()),
    st.dates().map(str),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)

#: For each workflow kind: a valid payload to mutate for each update. Updates that end the
#: workflow when accepted (withdraw, cancel, close) are left out: the rest would hit a closed one.
PLAN_UPDATES = {
    "submit": {"by": "张三"},
    "review": {"reviewer": "李四", "opinion": "同意", "outcome": "pass"},
    "approve": {"approver": "王五", "collective_discussion": True},
    "issue": {"document_number": "嘉府办发〔2026〕1号", "issuer": "区政府办"},
    "file": {"filed_with": "市应急局", "filed_by": "赵六"},
    "evaluate": {"evaluator": "评估组", "outcome": "still_valid", "findings": "有效"},
}
DRILL_UPDATES = {
    "postpone": {"new_date": str((NOW + timedelta(days=40)).date()), "reason": "台风", "by": "甲"},
    "conduct": {"participant_count": 50, "by": "甲"},
    "evaluate": {"evaluator": "乙", "summary": "良好"},
    "action-done": {"action": 1, "by": "丙"},
}
DISASTER_UPDATES = {
    "report": {
        "kind": "initial",
        "report_id": "R1",
        "as_of": NOW.isoformat(),
        "by": "信息员",
        "indicators": {"affected": 10, "relocated": 4, "centralized": 3, "dispersed": 1},
        "towns": [{"town": "安亭镇", "indicators": {"affected": 10}}],
    },
    "review": {"report_id": "R1", "reviewer": "市局", "decision": "pass"},
    "stable": {"by": "区局"},
}


def mutations(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The valid payload with one field (or a new, unknown field) set to a hostile value; or the
    valid payload itself, which the workflow may still refuse (wrong stage, nothing to change)."""
    keys = st.sampled_from([*base, "unknown_field"])
    mutated = st.tuples(keys, HOSTILE).map(lambda kv: {**base, kv[0]: kv[1]})
    return st.one_of(st.just(dict(base)), mutated)


def named_fields(exc: ValidationError) -> bool:
    return all(e["loc"] and e["msg"] for e in exc.errors())


class Sweep:
    """Sends examples to one running workflow and checks the rules after each."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handle: WorkflowHandle, view: Any) -> None:
        self.loop, self.handle, self.view = loop, handle, view
        self.counts = {"model refused": 0, "workflow refused": 0, "accepted": 0}
        self.ended = False

    def send(self, model: type[BaseModel], payload: dict, call: Callable[[Any], Any]) -> None:
        try:
            data = model.model_validate(payload)
        except ValidationError as exc:
            assert named_fields(exc), exc
            self.counts["model refused"] += 1
            return
        future = asyncio.run_coroutine_threadsafe(self._send(data, call), self.loop)
        future.result(timeout=60)

    async def _send(self, data: BaseModel, call: Callable[[Any], Any]) -> None:
        if self.ended:
            return
        before = await self.view()
        try:
            await call(data)
        except RPCError as exc:
            # Accepted examples can legitimately finish a workflow (a drill whose actions are
            # all done closes): the rest of the sweep has nothing left to send to.
            assert exc.status == RPCStatusCode.NOT_FOUND, exc
            self.ended = True
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            assert getattr(cause, "type", None) == "InvalidInput", repr(cause)
            assert str(getattr(cause, "message", "")).strip(), "a refusal must say why"
            after = await self.view()
            # nothing stored changed (a typhoon's empty apply batches tick on by themselves)
            ticking = {"batches_applied"}
            assert after.model_dump(exclude=ticking) == before.model_dump(exclude=ticking)
            self.counts["workflow refused"] += 1
        else:
            self.counts["accepted"] += 1

    def no_workflow_task_failed(self) -> None:
        async def check() -> None:
            history = await self.handle.fetch_history()
            failed = [
                e for e in history.events if e.HasField("workflow_task_failed_event_attributes")
            ]
            assert failed == [], failed[0].workflow_task_failed_event_attributes.failure.message

        asyncio.run_coroutine_threadsafe(check(), self.loop).result(timeout=60)


def sweep_in_thread(
    sweep: Sweep, updates: dict[str, dict], model_for: dict[str, type[BaseModel]], call: Callable
) -> None:
    actions = st.sampled_from(sorted(updates))

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples in every CI run
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        action = data.draw(actions)
        payload = data.draw(mutations(updates[action]))
        sweep.send(model_for[action], payload, lambda d: call(action, d))

    run()
    sweep.no_workflow_task_failed()


async def sweep(
    handle: WorkflowHandle,
    view: Callable[[], Any],
    updates: dict[str, dict],
    model_for: dict[str, type[BaseModel]],
    call: Callable,
) -> None:
    """Sweep one running workflow; the sweep must meet refusals of both kinds."""
    state = Sweep(asyncio.get_running_loop(), handle, view)
    await asyncio.to_thread(sweep_in_thread, state, updates, model_for, call)
    assert state.counts["model refused"] and state.counts["workflow refused"], state.counts


@pytest.fixture
async def live(dev_env, engine, task_queue):  # type: ignore[no-untyped-def]
    async with build_worker(dev_env.client, make_settings(), engine, task_queue):
        yield dev_env.client, engine, task_queue


async def test_plan_updates(live: tuple[Client, Any, str], code: str) -> None:
    client, _, queue = live
    create = PlanCreate(
        code=code,
        name="防汛防台专项应急预案",
        kind=PlanKind.SPECIAL,
        level=PlanLevel.DISTRICT,
        unit="区应急局",
        drafter="甲",
    )
    handle = await plans.create_plan(client, make_settings(), create, queue)
    await sweep(
        handle,
        lambda: plans.show(client, code),
        PLAN_UPDATES,
        {k: scenario.PLAN_STEPS[k] for k in PLAN_UPDATES},
        lambda action, d: plans.act(client, code, action, d),
    )


async def test_drill_updates(live: tuple[Client, Any, str], code: str) -> None:
    client, _, queue = live
    create = DrillCreate(
        code=code,
        name="防汛演练",
        drill_type=DrillType.TABLETOP,
        scenario="暴雨",
        organiser="区应急局",
        site="区应急局",
        scheduled_on=(NOW + timedelta(days=30)).date(),
    )
    handle = await drills.create_drill(client, make_settings(), create, queue)
    await sweep(
        handle,
        lambda: drills.show(client, code),
        DRILL_UPDATES,
        scenario.DRILL_STEPS,
        lambda action, d: drills.act(client, code, action, d),
    )


async def test_disaster_updates(live: tuple[Client, Any, str], code: str) -> None:
    client, _, queue = live
    opened = DisasterOpen(
        code=code,
        name="暴雨灾害过程",
        hazard="暴雨洪涝",
        district="嘉定区",
        occurred_at=NOW - timedelta(minutes=30),
        opened_by="值班员",
        officer=Contact(name="信息员", phone="13800000000"),
    )
    handle = await disasters.open_disaster(client, make_settings(), opened, queue)
    await sweep(
        handle,
        lambda: disasters.show(client, code),
        DISASTER_UPDATES,
        scenario.DISASTER_STEPS,
        lambda action, d: scenario.DISASTER_CALLS[action](client, code, d),
    )


async def test_warning_and_typhoon_updates(live: tuple[Client, Any, str], code: str) -> None:
    client, engine, queue = live
    issue = WarningIssue(
        warning_id=code,
        title="暴雨红色预警",
        district="嘉定区",
        issued_by="值班员",
        targets=[
            CallTarget(person=Contact(name="甲", phone="1380000"), unit="安亭镇"),
            CallTarget(person=Contact(name="乙", phone="1380001"), unit="江桥镇"),
        ],
    )
    # One call, then a long wait for the answer: the view stays still while the sweep runs.
    s = make_settings(warning_call_attempts=1, warning_call_window_minutes=600)
    handle = await warnings.issue_warning(client, s, issue, queue)
    await eventually(
        lambda: warnings.show(client, code),
        lambda v: all(c.attempts == 1 for c in v.calls) and v.last_seq >= 3,
    )
    await sweep(
        handle,
        lambda: warnings.show(client, code),
        {"ack": {"person": "甲"}},
        {"ack": AckInput},
        lambda _, d: warnings.acknowledge(client, code, d),
    )

    district = f"扫描区{code}"
    await add_units(
        engine, [{"code": f"{code}-T1", "name": "一镇", "level": "town", "district": district}]
    )
    event = await new_event(engine, district=district)
    handle = await typhoons.open_typhoon(client, engine, make_settings(), event, queue)
    await sweep(
        handle,
        lambda: typhoons.board(client, event.event_id),
        {"level": {"level": "III", "warning": "yellow", "by": "指挥部"}},
        {"level": LevelChange},
        lambda _, d: typhoons.change_level(client, event.event_id, d),
    )


# -- the CLI's parsers ----------------------------------------------------------------------------


@settings(max_examples=300, database=None, derandomize=True)
@given(st.text(max_size=30))
def test_cli_parsers_refuse_with_the_option_named(text: str) -> None:
    for parser, hint in (
        (lambda t: parse_date(t, "issued-on"), "--issued-on"),
        (lambda t: parse(PlanKind, t, "kind"), "--kind"),
        (_event_id, None),
    ):
        try:
            parser(text)
        except typer.BadParameter as exc:
            assert exc.message.strip()
            assert hint is None or exc.param_hint == hint
    if re.fullmatch(r"\d{4}:\d{1,2}", text):
        assert _event_id(text) == f"{int(text[:4])}:{int(text[5:])}"


@settings(max_examples=200, database=None, derandomize=True)
@given(st.text(max_size=200))
def test_scenario_parser_refuses_with_a_place_and_a_reason(text: str) -> None:
    try:
        scenario.parse(text)
    except scenario.ScenarioError as exc:
        assert exc.errors and all(": " in e for e in exc.errors)
