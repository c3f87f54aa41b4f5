"""``yingji load``: a past year (or any scenario) replayed through the entry points people use.

A scenario file is YAML. Everything in it is checked before anything is written: a bad file is
refused whole, with the path of every bad field. Loading is idempotent, so a load that stopped
half-way (or a second load of the same file) changes nothing already there:

- units are upserts keyed by code; officers are a roster import (``stores.officer``): the file's
  lines hold from their ``valid_from`` (default: the load's day), an unchanged line changes
  nothing;
- plans, drills, typhoons, warnings and disasters are workflows started under their business
  key with REJECT_DUPLICATE: an existing one is not started again;
- every step is a workflow update sent with an update id derived from the workflow id and the
  step's position, so Temporal answers a repeated step with the first outcome and records
  nothing new; a workflow that has already ended is skipped whole;
- typhoon reports are keyed by report id (a repeat is a ``duplicate`` and changes no total);
- revision triggers carry their own idempotency key (``trigger_id``).

Everything a scenario starts is historical: a step's ``at`` (an aware datetime; default: when the
load sends it) is when it happened, and deadlines are judged against those times, not against the
load's clock. After its last step a plan or a drill is told the past is loaded
(``end_history``): what fell due since then is judged against today and its clock runs. A
past warning is told so after its acks: whoever has not answered is 未叫醒, and it ends.

The format is described in README.md ("Loading a past year").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models import disaster as dm
from models import drill as drm
from models import plan as pm
from models import typhoon as tm
from models import warning as wm
from models.common import CHINA_TZ
from models.officer import OfficerRow
from models.unit import UnitRow
from yingji.core.errors import REFUSALS, DomainRefusal, plain_reason
from yingji.core.settings import Settings
from yingji.services import disaster as disasters
from yingji.services import drill as drills
from yingji.services import plan as plans
from yingji.services import typhoon as typhoons
from yingji.services import warning as warnings
from yingji.stores import officer as roster
from yingji.stores import unit as unit_store

T = TypeVar("T")
Progress = Callable[[str], Awaitable[None]]
_progress: ContextVar[Progress | None] = ContextVar("load_progress", default=None)

PLAN_STEPS: dict[str, type[BaseModel]] = {
    "submit": pm.SubmitDraft,
    "review": pm.ReviewInput,
    "approve": pm.ApproveInput,
    "issue": pm.IssueInput,
    "file": pm.FileInput,
    "evaluate": pm.EvaluateInput,
    "withdraw": pm.CloseInput,
    "abolish": pm.CloseInput,
    "trigger_revision": pm.RevisionTrigger,
}
DRILL_STEPS: dict[str, type[BaseModel]] = {
    "postpone": drm.PostponeInput,
    "cancel": drm.CancelInput,
    "conduct": drm.ConductInput,
    "evaluate": drm.DrillEvaluateInput,
    "action-done": drm.ActionDoneInput,
}
DISASTER_STEPS: dict[str, type[BaseModel]] = {
    "report": dm.DisasterReportInput,
    "review": dm.ReviewInput,
    "stable": dm.StableInput,
}


class ScenarioError(DomainRefusal):
    """The file cannot be loaded; each line names a place in the file and the reason."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Step(BaseModel):
    """One action on a workflow: its name and its validated input."""

    action: str
    data: BaseModel


def _steps(raw: Any, table: dict[str, type[BaseModel]]) -> list[Step]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("steps: a list of one-key mappings, e.g. - submit: {by: 张三}")
    steps = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError(f"steps[{i}]: one action per step, e.g. - submit: {{by: 张三}}")
        ((action, data),) = item.items()
        if action not in table:
            raise ValueError(f"steps[{i}]: unknown action '{action}' (known: {', '.join(table)})")
        try:
            steps.append(Step(action=action, data=table[action].model_validate(data or {})))
        except ValidationError as exc:
            raise ValueError(f"steps[{i}].{action}: {_messages(exc)}") from exc
    return steps


def _messages(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {plain_reason(e)}"  # type: ignore[arg-type]
        for e in exc.errors()
    )


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class _StepsEntry(_Entry):
    """An entry with ``steps:``, each checked against the entry's table of actions."""

    STEPS: ClassVar[dict[str, type[BaseModel]]] = {}
    steps: list[Step] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _parse_steps(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "steps" in raw:
            raw = {**raw, "steps": _steps(raw["steps"], cls.STEPS)}
        return raw


class _JurisdictionEntry(_StepsEntry):
    """A plan or a drill: its ``district`` (辖区) may be named beside ``create:`` or in it;
    without either it is the configured district's, as from the CLI."""

    @model_validator(mode="before")
    @classmethod
    def _district_into_create(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or "district" not in raw:
            return raw
        raw = dict(raw)
        district = raw.pop("district")
        create = raw.get("create")
        if isinstance(create, dict):
            if create.get("district") not in (None, district):
                raise ValueError(
                    f"district: '{district}' beside create, but create.district is "
                    f"'{create['district']}'"
                )
            raw["create"] = {**create, "district": district}
        return raw


class PlanEntry(_JurisdictionEntry):
    STEPS = PLAN_STEPS
    create: pm.PlanCreate


class DrillEntry(_JurisdictionEntry):
    STEPS = DRILL_STEPS
    create: drm.DrillCreate


class ScenarioReport(_Entry):
    """A typhoon report as the 街镇/村居 sent it; the event id comes from its typhoon."""

    report_id: str = Field(min_length=1, max_length=128)
    unit: str = Field(min_length=1)
    as_of: AwareDatetime
    figures: tm.Figures
    reported_by: str = Field(min_length=1)
    corrects: str | None = None
    reason: str | None = None


class TyphoonEntry(_Entry):
    open: tm.TyphoonOpen
    levels: list[tm.LevelChange] = Field(default_factory=list)
    reports: list[ScenarioReport] = Field(default_factory=list)
    close: tm.CloseTyphoon | None = None

    @model_validator(mode="after")
    def _reports_are_reports(self) -> TyphoonEntry:
        for i, r in enumerate(self.reports):
            try:
                tm.UnitReport.model_validate({**r.model_dump(), "event_id": self.open.event_id})
            except ValidationError as exc:
                raise ValueError(f"reports[{i}]: {_messages(exc)}") from exc
        return self

    def unit_reports(self) -> list[tm.UnitReport]:
        return [
            tm.UnitReport.model_validate({**r.model_dump(), "event_id": self.open.event_id})
            for r in self.reports
        ]


class WarningEntry(_Entry):
    """A past warning. ``units`` (default: every 街镇) are called from the roster, as the
    console does; ``acks`` say who answered when."""

    warning_id: str = Field(min_length=1, max_length=64, pattern=r"^[^\s:/]+$")
    title: str = Field(min_length=1)
    district: str = Field(min_length=1)
    issued_by: str = Field(min_length=1)
    issued_at: AwareDatetime
    units: list[str] | None = None
    acks: list[wm.AckInput] = Field(default_factory=list)

    @model_validator(mode="after")
    def _acks_are_timed(self) -> WarningEntry:
        for i, ack in enumerate(self.acks):
            if ack.at is None:
                raise ValueError(f"acks[{i}].at: a past answer needs its time")
        return self


class DisasterEntry(_StepsEntry):
    STEPS = DISASTER_STEPS
    open: dm.DisasterOpen

    @model_validator(mode="before")
    @classmethod
    def _historical(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("open"), dict):
            raw = {**raw, "open": {**raw["open"], "historical": True}}  # a scenario is the past
        return raw


class Scenario(_Entry):
    scenario: str = Field(min_length=1, description="a name for the file's content")
    description: str = ""
    #: The register's lines (``models.unit.UnitRow``): checked and imported exactly as
    #: ``yingji unit import`` does, all or nothing.
    units: list[UnitRow] = Field(default_factory=list, max_length=20_000)
    officers: list[OfficerRow] = Field(default_factory=list)
    plans: list[PlanEntry] = Field(default_factory=list)
    drills: list[DrillEntry] = Field(default_factory=list)
    typhoons: list[TyphoonEntry] = Field(default_factory=list)
    warnings: list[WarningEntry] = Field(default_factory=list)
    disasters: list[DisasterEntry] = Field(default_factory=list)


def parse(text: str, source: str = "scenario") -> Scenario:
    """Parse and check a whole scenario; refuse it with every bad field named."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{source}: not YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ScenarioError([f"{source}: expected a mapping with 'scenario:' at the top"])
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(
            [
                f"{'.'.join(str(p) for p in e['loc']) or source}: {plain_reason(e)}"  # type: ignore[arg-type]
                for e in exc.errors()
            ]
        ) from exc


def read(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: cannot read: {exc}"]) from exc
    return parse(text, str(path))


@dataclass
class LoadReport:
    """What a load did: counts of what was new and of what was already there."""

    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    steps_sent: int = 0
    reports: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, new: bool) -> None:
        target = self.created if new else self.existing
        target[kind] = target.get(kind, 0) + 1


async def _start(report: LoadReport, kind: str, start: Any) -> bool:
    """Start a workflow; False if it already exists (a repeated load)."""
    try:
        await start()
    except WorkflowAlreadyStartedError:
        report.count(kind, new=False)
        return False
    report.count(kind, new=True)
    return True


async def _running(client: Client, workflow_id: str) -> bool:
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status == WorkflowExecutionStatus.RUNNING


async def load(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    scenario: Scenario,
    task_queue: str | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Apply the scenario in dependency order: units, officers, plans, drills, typhoons,
    warnings, disasters (a disaster may take 紧急转移安置 from its typhoon's tally).

    ``progress`` is awaited with each step's place in the file (``plans[0].steps[2] (approve)``)
    before the step is sent: the CLI shows it, the fault suite injects its faults there."""
    _progress.set(progress)
    report = LoadReport()
    q = task_queue
    if scenario.units:
        await _step("units", unit_store.import_rows(engine, scenario.units))
    if scenario.officers:
        await _step("officers", roster.import_rows(engine, scenario.officers))
    for n, plan in enumerate(scenario.plans):
        await _load_plan(client, settings, plan, report, q, f"plans[{n}]")
    for n, drill in enumerate(scenario.drills):
        await _load_drill(client, settings, drill, report, q, f"drills[{n}]")
    for n, typhoon in enumerate(scenario.typhoons):
        await _load_typhoon(client, engine, settings, typhoon, report, q, f"typhoons[{n}]")
    for n, warning in enumerate(scenario.warnings):
        await _load_warning(client, engine, settings, warning, report, q, f"warnings[{n}]")
    for n, disaster in enumerate(scenario.disasters):
        await _load_disaster(client, settings, disaster, report, q, f"disasters[{n}]")
    return report


def _update_id(workflow_id: str, index: int, action: str) -> str:
    return f"load:{workflow_id}:{index}:{action}"


def _end_id(workflow_id: str) -> str:
    """The update id of ``end_history``: sent once after the last step (not counted a step)."""
    return f"load:{workflow_id}:end_history"


async def _step(where: str, call: Awaitable[T]) -> T:
    """Send one step; a refusal stops the load with the step's place in the file and why.
    What came before stays loaded, and loading the corrected file again carries on."""
    hook = _progress.get()
    if hook is not None:
        await hook(where)
    try:
        return await call
    except WorkflowUpdateFailedError as exc:
        reason = getattr(exc.cause, "message", None) or str(exc.cause or exc)
        raise ScenarioError([f"{where}: refused: {reason}"]) from exc
    except REFUSALS as exc:
        raise ScenarioError([f"{where}: refused: {exc}"]) from exc


async def _steps_on(
    client: Client,
    workflow_id: str,
    steps: list[Step],
    send: Callable[[Step, str], Awaitable[Any]],
    report: LoadReport,
    where: str,
    field: str = "steps",
) -> None:
    """Send each step as an update keyed by its place; ``field`` names the list in the file."""
    for i, step in enumerate(steps):
        if not await _running(client, workflow_id):
            return  # it ended (withdrawn, closed...): everything after was applied before
        await _step(
            f"{where}.{field}[{i}] ({step.action})",
            send(step, _update_id(workflow_id, i, step.action)),
        )
        report.steps_sent += 1


async def _load_plan(
    client: Client,
    settings: Settings,
    entry: PlanEntry,
    report: LoadReport,
    queue: str | None,
    where: str,
) -> None:
    code = entry.create.code

    async def send(step: Step, update_id: str) -> Any:
        if step.action == "trigger_revision":  # an update, so that a bad ``at`` is refused
            return await plans.trigger_revision(client, code, step.data, update_id)  # type: ignore[arg-type]
        return await plans.act(client, code, step.action, step.data, update_id)

    await _load_lifecycle(
        client,
        report,
        "plans",
        plans.plan_workflow_id(code),
        lambda: plans.create_plan(client, settings, entry.create, queue, historical=True),
        entry.steps,
        send,
        lambda update_id: plans.end_history(client, code, update_id),
        where,
    )


async def _load_drill(
    client: Client,
    settings: Settings,
    entry: DrillEntry,
    report: LoadReport,
    queue: str | None,
    where: str,
) -> None:
    code = entry.create.code

    async def send(step: Step, update_id: str) -> Any:
        return await drills.act(client, code, step.action, step.data, update_id)

    await _load_lifecycle(
        client,
        report,
        "drills",
        drills.drill_workflow_id(code),
        lambda: drills.create_drill(client, settings, entry.create, queue, historical=True),
        entry.steps,
        send,
        lambda update_id: drills.end_history(client, code, update_id),
        where,
    )


async def _load_lifecycle(
    client: Client,
    report: LoadReport,
    kind: str,
    workflow_id: str,
    start: Callable[[], Awaitable[Any]],
    steps: list[Step],
    send: Callable[[Step, str], Awaitable[Any]],
    end_history: Callable[[str], Awaitable[Any]],
    where: str,
) -> None:
    """A plan's or a drill's life: started as history, its steps sent, then handed to the
    live clock (``end_history``) unless a step ended it."""
    await _step(f"{where}.create", _start(report, kind, start))
    await _steps_on(client, workflow_id, steps, send, report, where)
    if await _running(client, workflow_id):
        await _step(f"{where}.end_history", end_history(_end_id(workflow_id)))


async def _load_typhoon(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    entry: TyphoonEntry,
    report: LoadReport,
    queue: str | None,
    where: str,
) -> None:
    event_id = entry.open.event_id
    wid = typhoons.typhoon_workflow_id(event_id)
    await _step(
        f"{where}.open",
        _start(
            report,
            "typhoons",
            lambda: typhoons.open_typhoon(
                client, engine, settings, entry.open, queue, historical=True
            ),
        ),
    )
    levels = [Step(action="level", data=level) for level in entry.levels]

    async def change_level(step: Step, update_id: str) -> Any:
        return await typhoons.change_level(client, event_id, step.data, update_id)  # type: ignore[arg-type]

    await _steps_on(client, wid, levels, change_level, report, where, "levels")
    if not await _running(client, wid):
        return
    for i, unit_report in enumerate(entry.unit_reports()):
        receipt = await _step(f"{where}.reports[{i}]", typhoons.submit_report(engine, unit_report))
        report.reports[receipt.status] = report.reports.get(receipt.status, 0) + 1
    if entry.close is not None:
        await _step(
            f"{where}.close",
            typhoons.close(client, event_id, entry.close, _update_id(wid, 0, "close")),
        )
        report.steps_sent += 1


async def _load_warning(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    entry: WarningEntry,
    report: LoadReport,
    queue: str | None,
    where: str,
) -> None:
    wid = warnings.warning_workflow_id(entry.warning_id)
    targets = await _step(f"{where}.units", _past_targets(engine, entry))
    issue = wm.WarningIssue(
        warning_id=entry.warning_id,
        title=entry.title,
        district=entry.district,
        issued_by=entry.issued_by,
        issued_at=entry.issued_at,
        targets=targets,
    )
    await _start(report, "warnings", lambda: warnings.issue_warning(client, settings, issue, queue))
    acks = [Step(action="ack", data=ack) for ack in entry.acks]

    async def acknowledge(step: Step, update_id: str) -> Any:
        return await warnings.acknowledge(client, entry.warning_id, step.data, update_id)  # type: ignore[arg-type]

    await _steps_on(client, wid, acks, acknowledge, report, where, "acks")
    # The answers are all in: whoever has not answered is 未叫醒, and the warning ends. One that
    # every person answered has ended by itself, perhaps between the check and the update.
    if await _running(client, wid):
        try:
            await _step(
                f"{where}.end_history",
                warnings.end_history(client, entry.warning_id, _end_id(wid)),
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or await _running(client, wid):
                raise


async def _past_targets(engine: AsyncEngine, entry: WarningEntry) -> list[wm.CallTarget]:
    """The people a past warning called: the roster of its day. When nobody served then as far
    as the roster knows (a scenario whose officers have no ``valid_from`` starts them on the
    load's day), today's."""
    day = entry.issued_at.astimezone(CHINA_TZ).date()
    try:
        return await warnings.targets_from_roster(engine, entry.district, entry.units, day)
    except warnings.NoOneToCall:
        return await warnings.targets_from_roster(engine, entry.district, entry.units)


DISASTER_CALLS: dict[str, Callable[..., Awaitable[Any]]] = {
    "report": disasters.submit,
    "review": disasters.review,
    "stable": disasters.declare_stable,
}


async def _load_disaster(
    client: Client,
    settings: Settings,
    entry: DisasterEntry,
    report: LoadReport,
    queue: str | None,
    where: str,
) -> None:
    code = entry.open.code

    async def send(step: Step, update_id: str) -> Any:
        return await DISASTER_CALLS[step.action](client, code, step.data, update_id)

    await _start(
        report, "disasters", lambda: disasters.open_disaster(client, settings, entry.open, queue)
    )
    await _steps_on(client, disasters.disaster_workflow_id(code), entry.steps, send, report, where)
