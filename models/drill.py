"""Drill (应急演练) models: plan the drill, conduct it, evaluate it, fix what it found.

DOMAIN.md §2; the loop is FEMA HSEEP's: design → conduct → evaluate → improvement plan →
corrective actions (整改) tracked to done. Programmes are the recurring cadences of a unit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from models.common import (
    CODE_PATTERN,
    Inconsistent,
    LabelledEnum,
    Model,
    Request,
    StepTime,
    labelled,
    step_time_field,
)


class DrillForm(LabelledEnum):
    """How a drill is held: in the field, or around a table."""

    LIVE = "live"
    TABLETOP = "tabletop"


labelled(DrillForm, {"live": "实战演练", "tabletop": "桌面推演"})


class DrillScope(LabelledEnum):
    """What a drill covers: one response task, or many units together."""

    SINGLE = "single"
    COMPREHENSIVE = "comprehensive"


labelled(DrillScope, {"single": "单项", "comprehensive": "综合"})


class DrillType(LabelledEnum):
    """A drill's form (实战/桌面) and scope (单项/综合). The first four values say only one of the
    two (what drills were recorded with at first, still loaded as they are); the combined ones
    say both, so a 综合实战演练 is one drill of form live and scope comprehensive."""

    LIVE = "live"
    TABLETOP = "tabletop"
    COMPREHENSIVE = "comprehensive"
    SINGLE = "single"
    COMPREHENSIVE_LIVE = "comprehensive_live"
    COMPREHENSIVE_TABLETOP = "comprehensive_tabletop"
    SINGLE_LIVE = "single_live"
    SINGLE_TABLETOP = "single_tabletop"

    @property
    def form(self) -> DrillForm | None:
        """实战演练 or 桌面推演; None when the drill was recorded by scope only."""
        for form in DrillForm:
            if self.value == form.value or self.value.endswith("_" + form.value):
                return form
        return None

    @property
    def scope(self) -> DrillScope | None:
        """单项 or 综合; None when the drill was recorded by form only."""
        for scope in DrillScope:
            if self.value.split("_")[0] == scope.value:
                return scope
        return None

    @classmethod
    def of(cls, form: DrillForm | None, scope: DrillScope | None) -> DrillType:
        """The type of a drill of this form and scope (at least one of them)."""
        if form is None and scope is None:
            raise ValueError(
                "drill_type: give a form (实战演练/桌面推演), a scope (单项/综合) or both"
            )
        if form is None:
            assert scope is not None
            return cls(scope.value)
        if scope is None:
            return cls(form.value)
        return cls(f"{scope.value}_{form.value}")


labelled(
    DrillType,
    {
        "live": "实战演练",
        "tabletop": "桌面推演",
        "comprehensive": "综合演练",
        "single": "单项演练",
        "comprehensive_live": "综合实战演练",
        "comprehensive_tabletop": "综合桌面推演",
        "single_live": "单项实战演练",
        "single_tabletop": "单项桌面推演",
    },
)


class DrillStage(LabelledEnum):
    PLANNED = "planned"
    CONDUCTED = "conducted"
    EVALUATED = "evaluated"
    CLOSED = "closed"
    CANCELLED = "cancelled"


labelled(
    DrillStage,
    {
        "planned": "已计划",
        "conducted": "已实施待评估",
        "evaluated": "已评估整改中",
        "closed": "已完成",
        "cancelled": "已取消",
    },
)

DRILL_TERMINAL = frozenset({DrillStage.CLOSED, DrillStage.CANCELLED})


class DrillAction(LabelledEnum):
    POSTPONE = "postpone"
    CANCEL = "cancel"
    CONDUCT = "conduct"
    EVALUATE = "evaluate"
    ACTION_DONE = "action_done"


labelled(
    DrillAction,
    {
        "postpone": "延期",
        "cancel": "取消",
        "conduct": "实施",
        "evaluate": "评估",
        "action_done": "整改完成",
    },
)

DRILL_ALLOWED: dict[DrillStage, tuple[DrillAction, ...]] = {
    DrillStage.PLANNED: (DrillAction.POSTPONE, DrillAction.CANCEL, DrillAction.CONDUCT),
    DrillStage.CONDUCTED: (DrillAction.EVALUATE,),
    DrillStage.EVALUATED: (DrillAction.ACTION_DONE,),
    DrillStage.CLOSED: (),
    DrillStage.CANCELLED: (),
}


class Severity(LabelledEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


labelled(Severity, {"high": "严重", "medium": "一般", "low": "轻微"})


class FindingCategory(LabelledEnum):
    EXECUTION = "execution"
    PLAN_SOUNDNESS = "plan_soundness"
    COMMAND = "command"
    RESPONDERS = "responders"
    EQUIPMENT = "equipment"


labelled(
    FindingCategory,
    {
        "execution": "演练执行",
        "plan_soundness": "预案合理性",
        "command": "指挥协调",
        "responders": "应急人员",
        "equipment": "装备物资",
    },
)


# -- inputs --


class DrillCreate(Model):
    is_input: ClassVar[bool] = True

    code: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200, description="演练名称, e.g. 嘉安-2024")
    drill_type: DrillType
    scenario: str = Field(max_length=8000, min_length=1, description="演练情景")
    organiser: str = Field(max_length=100, min_length=1, description="组织单位")
    #: At most 500 units: each is reminded twice, and a workflow may have 2,000 activities
    #: pending (a 2,100-participant drill stuck there for good).
    participants: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=500, description="参演单位"
    )
    linked_plans: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50, description="检验的预案编号"
    )
    site: str = Field(max_length=100, min_length=1)
    scheduled_on: date
    programme_id: str | None = Field(default=None, max_length=100)
    at: StepTime | None = step_time_field()
    # Added after histories were recorded: old payloads decode with None.
    district: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="辖区: the district or city whose drill it is; default the configured one "
        "(filled in before the workflow starts)",
    )

    @model_validator(mode="after")
    def _plans_listed_once(self) -> DrillCreate:
        if len(set(self.linked_plans)) != len(self.linked_plans):
            raise Inconsistent("linked_plans: a plan is listed twice")
        return self


class DrillRules(Model):
    """Rule values fixed in history when the drill is planned (from settings)."""

    reminder_days: list[int] = Field(default_factory=lambda: [7, 1])
    evaluation_due_days: int = Field(default=15, ge=1)


class PostponeInput(Request):
    new_date: date
    reason: str = Field(max_length=2000, min_length=1)
    by: str = Field(max_length=100, min_length=1)
    at: StepTime | None = step_time_field()


class CancelInput(Request):
    reason: str = Field(max_length=2000, min_length=1)
    by: str = Field(max_length=100, min_length=1)
    at: StepTime | None = step_time_field()


class ConductInput(Request):
    conducted_on: date | None = Field(
        default=None, description="default the day of `at`, or today (CST)"
    )
    participant_count: int = Field(ge=0, le=1_000_000)
    segments: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50, description="演练科目"
    )
    observations: str = Field(default="", max_length=8000)
    by: str = Field(max_length=100, min_length=1)
    at: StepTime | None = step_time_field()


class FindingInput(Model):
    severity: Severity
    category: FindingCategory
    description: str = Field(max_length=1000, min_length=1)
    plan_defect: bool = Field(default=False, description="the plan itself is wrong")
    plan_code: str | None = Field(
        max_length=100, default=None, description="which linked plan, if a defect"
    )


class ActionInput(Model):
    is_input: ClassVar[bool] = True

    finding: int = Field(ge=1, le=1000, description="number of the finding (1-based) it corrects")
    description: str = Field(max_length=500, min_length=1)
    owner: str = Field(max_length=100, min_length=1)
    due_on: date


class DrillEvaluateInput(Request):
    evaluator: str = Field(max_length=100, min_length=1)
    third_party: bool = False
    summary: str = Field(max_length=8000, min_length=1)
    # Bounded so that a drill's state (carried whole, projected with each change) stays far
    # below Temporal's 2 MB payload limit even with 4-byte characters everywhere.
    findings: list[FindingInput] = Field(default_factory=list, max_length=50)
    actions: list[ActionInput] = Field(default_factory=list, max_length=100)
    evaluated_on: date | None = None
    at: StepTime | None = step_time_field()

    @model_validator(mode="after")
    def _actions_refer_to_findings(self) -> DrillEvaluateInput:
        for i, action in enumerate(self.actions):
            if action.finding > len(self.findings):
                raise Inconsistent(
                    f"actions[{i}].finding: {action.finding} but there are "
                    f"{len(self.findings)} findings"
                )
        for i, finding in enumerate(self.findings):
            if finding.plan_defect and not finding.plan_code:
                raise Inconsistent(f"findings[{i}].plan_code: required when plan_defect is true")
        return self


class ActionDoneInput(Request):
    action: int = Field(ge=1, le=1000, description="number of the corrective action (1-based)")
    by: str = Field(max_length=100, min_length=1)
    note: str = Field(default="", max_length=500)
    done_on: date | None = None
    at: StepTime | None = step_time_field()


# -- state and records --


class Finding(Model):
    number: int
    severity: Severity
    category: FindingCategory
    description: str
    plan_defect: bool
    plan_code: str | None
    plan_notified: bool = False
    plan_notify_error: str | None = None


class CorrectiveAction(Model):
    number: int
    finding: int
    description: str
    owner: str
    due_on: date
    done_on: date | None = None
    done_by: str | None = None
    note: str = ""
    overdue: bool = False


class Conduct(Model):
    conducted_on: date
    participant_count: int
    segments: list[str]
    observations: str


class Evaluation(Model):
    evaluator: str
    third_party: bool
    summary: str
    evaluated_on: date
    late: bool


class DrillEvent(Model):
    seq: int
    at: datetime
    kind: str
    stage: DrillStage
    actor: str
    detail: dict[str, Any] = Field(default_factory=dict)


class DrillState(Model):
    drill: DrillCreate
    rules: DrillRules
    stage: DrillStage = DrillStage.PLANNED
    scheduled_on: date
    postponements: list[dict[str, Any]] = Field(default_factory=list)
    reminders_sent: list[str] = Field(default_factory=list)
    date_passed_unconducted: bool = False
    conduct: Conduct | None = None
    evaluation_due: date | None = None
    evaluation_overdue: bool = False
    evaluation: Evaluation | None = None
    findings: list[Finding] = Field(default_factory=list)
    actions: list[CorrectiveAction] = Field(default_factory=list)
    seq: int = 0
    # Added after histories were recorded: defaults keep old payloads decodable on replay.
    #: Loaded from a scenario (``yingji load``): no clock-driven reminder or deadline until the
    #: load ends (``end_history``); each step's ``at`` decides what fell due before it.
    historical: bool = False
    #: When the latest event was recorded; a step's ``at`` may not be earlier.
    last_at: datetime | None = None
    #: The latest update ids applied, carried across continue-as-new (see workflows.base.once).
    update_ids: list[str] = Field(default_factory=list)


class DrillWorkflowInput(Model):
    create: DrillCreate | None = None
    rules: DrillRules = Field(default_factory=DrillRules)
    state: DrillState | None = None
    outbox: list[DrillEvent] = Field(default_factory=list)
    #: A past drill replayed by ``yingji load`` (see DrillState.historical).
    historical: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> DrillWorkflowInput:
        if (self.create is None) == (self.state is None):
            raise Inconsistent("exactly one of create and state must be given")
        return self


# -- outputs --


class DrillView(Model):
    code: str
    name: str
    drill_type: DrillType
    scenario: str
    organiser: str
    participants: list[str]
    linked_plans: list[str]
    site: str
    programme_id: str | None
    stage: DrillStage
    stage_label: str
    allowed_actions: list[DrillAction]
    scheduled_on: date
    postponements: list[dict[str, Any]]
    reminders_sent: list[str]
    date_passed_unconducted: bool
    conduct: Conduct | None
    evaluation_due: date | None
    evaluation_overdue: bool
    evaluation: Evaluation | None
    findings: list[Finding]
    actions: list[CorrectiveAction]
    open_actions: int
    overdue_actions: int
    last_seq: int
    #: 辖区 (None: a drill started before drills carried one; counted as the configured one's).
    district: str | None = None


class DrillOutcome(Model):
    code: str
    stage: DrillStage


class DrillProjection(Model):
    workflow_id: str
    view: DrillView
    events: list[DrillEvent]


# -- notifications (the project's notifier) -------------------------------------------------------


class Notification(Model):
    key: str = Field(min_length=1, description="idempotency key: one notification per key")
    recipient: str = Field(min_length=1)
    address: str | None = Field(default=None, description="phone or e-mail, when known")
    subject: str = Field(min_length=1)
    body: str = ""
    source: str = Field(min_length=1, description="workflow id that sent it")


class NotificationResult(Model):
    key: str
    created: bool


# -- programmes --


class Frequency(LabelledEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    ANNUAL = "annual"


labelled(
    Frequency, {"monthly": "月度", "quarterly": "季度", "semiannual": "半年", "annual": "年度"}
)


class CadenceItem(Model):
    """One recurring drill of a programme: the cadence as data."""

    key: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$", description="short code, e.g. M")
    frequency: Frequency
    drill_type: DrillType
    title: str = Field(min_length=1, description="e.g. 实战演练, 技能比武, 综合拉动演练")
    scenario: str = Field(min_length=1)
    day: int = Field(default=15, ge=1, le=28, description="day of the month")
    month: int = Field(
        default=1,
        ge=1,
        le=12,
        description="annual: the month; quarterly/semiannual: month within the period",
    )
    name: str | None = Field(default=None, description="fixed name (e.g. 嘉安-2024)")
    site: str = "待定"
    linked_plans: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _month_fits(self) -> CadenceItem:
        limit = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}[self.frequency]
        if self.month > limit:
            raise Inconsistent(f"month: {self.month} is beyond a {self.frequency.value} period")
        return self


class ProgrammeInput(Model):
    unit: str = Field(min_length=1, description="单位")
    unit_code: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    year: int = Field(ge=2000, le=2100)
    items: list[CadenceItem] = Field(min_length=1)
    participants: list[str] = Field(default_factory=list)
    lead_days: int = Field(
        default=14, ge=0, le=365, description="start each drill this long before"
    )
    rules: DrillRules = Field(default_factory=DrillRules)
    #: 辖区 of the programme's drills (added later: old payloads decode with None).
    district: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _unique_keys(self) -> ProgrammeInput:
        keys = [i.key for i in self.items]
        if len(keys) != len(set(keys)):
            raise Inconsistent("items: keys must be unique")
        return self


class ProgrammeDrill(Model):
    code: str
    name: str
    scheduled_on: date
    item: str
    status: str = "pending"  # pending | started | already_exists | skipped


class ProgrammeDates(Model):
    drills: list[ProgrammeDrill]
    exact: bool


class ProgrammeView(Model):
    programme_id: str
    unit: str
    year: int
    items: list[CadenceItem]
    drills: list[ProgrammeDrill]
    calendar_exact: bool
    revision: int = Field(description="grows with every change; guards the projection")
