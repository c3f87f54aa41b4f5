"""Emergency plan (应急预案) models: what the plan lifecycle workflow takes, keeps and answers.

Rules from 国办发〔2024〕5号《突发事件应急预案管理办法》 (DOMAIN.md §1).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

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


class PlanKind(LabelledEnum):
    OVERALL = "overall"
    SPECIAL = "special"
    DEPARTMENTAL = "departmental"
    GRASSROOTS = "grassroots"
    ENTERPRISE = "enterprise"
    ON_SITE = "on_site"


labelled(
    PlanKind,
    {
        "overall": "总体应急预案",
        "special": "专项应急预案",
        "departmental": "部门应急预案",
        "grassroots": "基层应急预案",
        "enterprise": "企事业单位应急预案",
        "on_site": "现场处置方案",
    },
)


class PlanLevel(LabelledEnum):
    CITY = "city"
    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"


labelled(PlanLevel, {"city": "市", "district": "区/县", "town": "街镇", "village": "村居"})


class PlanStage(LabelledEnum):
    DRAFTING = "drafting"
    CONSULTATION = "consultation"
    EXPERT_REVIEW = "expert_review"
    LEGALITY_REVIEW = "legality_review"
    APPROVAL = "approval"
    APPROVED = "approved"
    ISSUED = "issued"
    FILED = "filed"
    IN_FORCE = "in_force"
    UNDER_EVALUATION = "under_evaluation"
    REVISION = "revision"
    WITHDRAWN = "withdrawn"
    ABOLISHED = "abolished"


labelled(
    PlanStage,
    {
        "drafting": "编制",
        "consultation": "征求意见",
        "expert_review": "专家论证",
        "legality_review": "合法性审查",
        "approval": "审批",
        "approved": "已批准待印发",
        "issued": "已印发待备案",
        "filed": "已备案",
        "in_force": "施行中",
        "under_evaluation": "评估中",
        "revision": "修订",
        "withdrawn": "已撤回",
        "abolished": "已废止",
    },
)

TERMINAL_STAGES = frozenset({PlanStage.WITHDRAWN, PlanStage.ABOLISHED})
REVIEW_STAGES = (PlanStage.CONSULTATION, PlanStage.EXPERT_REVIEW, PlanStage.LEGALITY_REVIEW)


class PlanAction(LabelledEnum):
    SUBMIT = "submit"
    REVIEW = "review"
    APPROVE = "approve"
    ISSUE = "issue"
    FILE = "file"
    EVALUATE = "evaluate"
    WITHDRAW = "withdraw"
    ABOLISH = "abolish"


labelled(
    PlanAction,
    {
        "submit": "提交征求意见",
        "review": "审查",
        "approve": "审批",
        "issue": "印发",
        "file": "备案",
        "evaluate": "评估",
        "withdraw": "撤回",
        "abolish": "废止",
    },
)

_PRE_ISSUE = (
    PlanStage.DRAFTING,
    *REVIEW_STAGES,
    PlanStage.APPROVAL,
    PlanStage.APPROVED,
)

#: The lifecycle as data: which actions each stage allows.
ALLOWED_ACTIONS: dict[PlanStage, tuple[PlanAction, ...]] = {
    PlanStage.DRAFTING: (PlanAction.SUBMIT, PlanAction.WITHDRAW),
    PlanStage.CONSULTATION: (PlanAction.REVIEW, PlanAction.WITHDRAW),
    PlanStage.EXPERT_REVIEW: (PlanAction.REVIEW, PlanAction.WITHDRAW),
    PlanStage.LEGALITY_REVIEW: (PlanAction.REVIEW, PlanAction.WITHDRAW),
    PlanStage.APPROVAL: (PlanAction.APPROVE, PlanAction.WITHDRAW),
    PlanStage.APPROVED: (PlanAction.ISSUE, PlanAction.WITHDRAW),
    PlanStage.ISSUED: (PlanAction.FILE, PlanAction.ABOLISH),
    PlanStage.FILED: (PlanAction.ABOLISH,),
    PlanStage.IN_FORCE: (PlanAction.EVALUATE, PlanAction.ABOLISH),
    PlanStage.UNDER_EVALUATION: (PlanAction.EVALUATE, PlanAction.ABOLISH),
    PlanStage.REVISION: (),
    PlanStage.WITHDRAWN: (),
    PlanStage.ABOLISHED: (),
}


class RevisionCause(LabelledEnum):
    """The revision triggers of 2013 办法 第二十五条 (DOMAIN.md §1)."""

    LAW_CHANGED = "law_changed"
    COMMAND_CHANGED = "command_changed"
    RISK_CHANGED = "risk_changed"
    RESOURCES_CHANGED = "resources_changed"
    KEY_INFO_CHANGED = "key_info_changed"
    RESPONSE_OR_DRILL_FINDINGS = "response_or_drill_findings"
    OTHER = "other"


labelled(
    RevisionCause,
    {
        "law_changed": "有关法律、法规、规章、标准、上位预案中的有关规定发生变化",
        "command_changed": "应急指挥机构及其职责发生重大调整",
        "risk_changed": "面临的风险发生重大变化",
        "resources_changed": "重要应急资源发生重大变化",
        "key_info_changed": "预案中的其他重要信息发生变化",
        "response_or_drill_findings": "在突发事件实际应对和应急演练中发现问题需要作出重大调整",
        "other": "应急预案制定单位认为应当修订的其他情况",
    },
)


class ReviewOutcome(LabelledEnum):
    PASS = "pass"
    RETURN = "return"


labelled(ReviewOutcome, {"pass": "通过", "return": "退回修改"})


class EvaluationOutcome(LabelledEnum):
    STILL_VALID = "still_valid"
    REVISE = "revise"


labelled(EvaluationOutcome, {"still_valid": "继续有效", "revise": "需要修订"})


class DeadlineKind(LabelledEnum):
    FILING = "filing"
    EVALUATION = "evaluation"


labelled(DeadlineKind, {"filing": "备案", "evaluation": "评估"})


# ---------------------------------------------------------------------------------------------
# Inputs: one model per workflow, update and signal.


#: Bounds, so that a plan's state — carried whole across continue-as-new and answered by every
#: query — stays far below Temporal's 2 MB payload limit whatever callers send. The event log in
#: PostgreSQL keeps everything; the workflow keeps what it needs to decide.
TEXT_MAX = 2000
#: Revision causes a plan may receive in its life (their ids are remembered for its life, so a
#: repeated cause is recorded once, however late it comes).
TRIGGERS_MAX = 2000
#: Causes waiting at once (noted for the draft or pending until the plan is in force).
OPEN_TRIGGERS_MAX = 50
#: Records the state keeps of each kind (the latest ones; older ones are in the event log).
REVIEWS_KEPT = 30
EVALUATIONS_KEPT = 10
REVISIONS_KEPT = 20
#: How much of an older revision's cause the state keeps (the whole text is in plan_revision).
OLD_TRIGGER_DETAIL_KEPT = 100


class PlanCreate(Model):
    is_input: ClassVar[bool] = True

    code: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: PlanKind
    level: PlanLevel
    unit: str = Field(min_length=1, max_length=100, description="制定单位")
    drafter: str = Field(min_length=1, max_length=100)
    at: StepTime | None = step_time_field()
    # Added after histories were recorded: old payloads decode with None.
    district: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="辖区: the district or city whose plan it is; default the configured one "
        "(filled in before the workflow starts)",
    )
    # Added after histories were recorded: old payloads decode with None.
    short_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="简称, the topic the bureau writes in a list (e.g. 地震, 处置危险化学品); "
        "the year-end summary names revisions by it",
    )


class PlanRules(Model):
    """Rule values resolved from settings when the plan is created, then fixed in history."""

    filing_working_days: int = Field(default=20, ge=1)
    evaluation_years: int = Field(default=3, ge=1)


class SubmitDraft(Request):
    by: str = Field(max_length=100, min_length=1)
    note: str = Field(default="", max_length=2000)
    at: StepTime | None = step_time_field()


class ReviewInput(Request):
    reviewer: str = Field(max_length=100, min_length=1)
    opinion: str = Field(max_length=2000, min_length=1)
    outcome: ReviewOutcome
    at: StepTime | None = step_time_field()


class ApproveInput(Request):
    approver: str = Field(max_length=100, min_length=1)
    approved: bool = True
    collective_discussion: bool = Field(
        default=False, description="集体讨论 (required for major plans such as overall plans)"
    )
    opinion: str = Field(default="", max_length=2000)
    at: StepTime | None = step_time_field()


class IssueInput(Request):
    document_number: str = Field(
        max_length=100, min_length=1, description="文号, e.g. 嘉府办发〔2024〕12号"
    )
    issuer: str = Field(max_length=100, min_length=1)
    issued_on: date | None = Field(
        default=None, description="印发日期; default the day of `at`, or today (CST)"
    )
    at: StepTime | None = step_time_field()


class FileInput(Request):
    filed_with: str = Field(max_length=100, min_length=1, description="备案机关")
    filed_by: str = Field(max_length=100, min_length=1)
    filed_on: date | None = Field(
        default=None, description="备案日期; default the day of `at`, or today (CST)"
    )
    receipt_number: str = Field(default="", max_length=2000)
    at: StepTime | None = step_time_field()


class EvaluateInput(Request):
    evaluator: str = Field(max_length=100, min_length=1)
    outcome: EvaluationOutcome
    findings: str = Field(max_length=TEXT_MAX, min_length=1)
    cause: RevisionCause | None = Field(
        default=None, description="revision cause when the outcome is 'revise' (default: other)"
    )
    at: StepTime | None = step_time_field()


class RevisionTrigger(Request):
    cause: RevisionCause
    detail: str = Field(max_length=TEXT_MAX, min_length=1)
    source: str = Field(max_length=100, min_length=1, description="who or which workflow raised it")
    trigger_id: str = Field(
        max_length=100,
        min_length=1,
        description="idempotency key: a repeated trigger id is recorded once",
    )
    at: StepTime | None = step_time_field()


class CloseInput(Request):
    by: str = Field(max_length=100, min_length=1)
    reason: str = Field(max_length=2000, min_length=1)
    at: StepTime | None = step_time_field()


# ---------------------------------------------------------------------------------------------
# Records kept in workflow state and carried across continue-as-new.


class ReviewRecord(Model):
    stage: PlanStage
    reviewer: str
    opinion: str
    outcome: ReviewOutcome
    at: datetime


class ApprovalRecord(Model):
    approver: str
    approved: bool
    collective_discussion: bool
    opinion: str
    at: datetime


class IssueRecord(Model):
    document_number: str
    issuer: str
    issued_on: date


class FilingRecord(Model):
    filed_with: str
    filed_by: str
    filed_on: date
    receipt_number: str
    due: date
    late_by_days: int = Field(default=0, description="calendar days after the working-day due date")


class EvaluationRecord(Model):
    version: int
    evaluator: str
    outcome: EvaluationOutcome
    findings: str
    at: datetime


class RevisionRecord(Model):
    """One revision: the version it produces and why it was opened."""

    version: int
    from_version: int
    started_at: datetime
    triggers: list[RevisionTrigger]


class Deadline(Model):
    kind: DeadlineKind
    due: date
    overdue: bool
    exact: bool = Field(description="False when the working-day calendar had to be estimated")


class PlanEvent(Model):
    """One change, projected to the ``plan_event`` table keyed by (plan code, seq)."""

    seq: int
    at: datetime
    kind: str
    version: int
    stage_from: PlanStage | None
    stage_to: PlanStage
    actor: str
    detail: dict[str, Any] = Field(default_factory=dict)


class PlanState(Model):
    """Everything the workflow knows; the continue-as-new hand-over carries all of it."""

    plan: PlanCreate
    rules: PlanRules
    stage: PlanStage
    stage_since: datetime
    version: int = 1
    in_force_version: int | None = None
    reviews: list[ReviewRecord] = Field(default_factory=list)
    approval: ApprovalRecord | None = None
    issue: IssueRecord | None = None
    filing: FilingRecord | None = None
    filing_due: Deadline | None = None
    evaluation_due: Deadline | None = None
    evaluations: list[EvaluationRecord] = Field(default_factory=list)
    revisions: list[RevisionRecord] = Field(default_factory=list)
    pending_triggers: list[RevisionTrigger] = Field(default_factory=list)
    draft_triggers: list[RevisionTrigger] = Field(default_factory=list)
    seen_trigger_ids: list[str] = Field(default_factory=list)
    seq: int = 0
    # Added after histories were recorded: defaults keep old payloads decodable on replay.
    #: Loaded from a scenario (``yingji load``): no clock-driven deadline until the load ends
    #: (``end_history``); each step's ``at`` decides what fell due before it.
    historical: bool = False
    #: When the latest event was recorded; a step's ``at`` may not be earlier.
    last_at: datetime | None = None
    #: When the next version's drafting begins, for a revision started by a past step.
    draft_at: datetime | None = None
    #: The ids of the latest updates applied, carried across continue-as-new: Temporal knows
    #: an update id only within one run, and a revision starts a new run, so a request repeated
    #: after it (a reloaded scenario, a retried console call) would otherwise apply again.
    update_ids: list[str] = Field(default_factory=list)


class PlanWorkflowInput(Model):
    """The workflow's single input: a new plan, or the state handed over by continue-as-new."""

    create: PlanCreate | None = None
    rules: PlanRules = Field(default_factory=PlanRules)
    state: PlanState | None = None
    #: Events not yet projected when the previous run handed over (normally empty).
    outbox: list[PlanEvent] = Field(default_factory=list)
    #: A past plan replayed by ``yingji load`` (see PlanState.historical).
    historical: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> PlanWorkflowInput:
        if (self.create is None) == (self.state is None):
            raise Inconsistent("exactly one of create and state must be given")
        return self


# ---------------------------------------------------------------------------------------------
# Outputs.


class PlanView(Model):
    """The answer of the ``view`` query and of every update."""

    code: str
    name: str
    kind: PlanKind
    level: PlanLevel
    unit: str
    stage: PlanStage
    stage_label: str
    stage_since: datetime
    version: int
    in_force_version: int | None
    allowed_actions: list[PlanAction]
    deadlines: list[Deadline]
    filing_overdue: bool
    evaluation_overdue: bool
    issue: IssueRecord | None
    filing: FilingRecord | None
    reviews: list[ReviewRecord]
    approval: ApprovalRecord | None
    evaluations: list[EvaluationRecord]
    revisions: list[RevisionRecord]
    pending_triggers: list[RevisionTrigger]
    draft_triggers: list[RevisionTrigger]
    last_seq: int
    #: 辖区 (None: a plan started before plans carried one; counted as the configured one's).
    district: str | None = None
    #: 简称 (None: not given, or a plan started before plans carried one).
    short_name: str | None = None


class PlanOutcome(Model):
    """Result of a plan workflow that has ended (withdrawn or abolished)."""

    code: str
    stage: PlanStage
    version: int


class PlanRow(Model):
    """The plan's line in the register (table ``plan``): what the projection writes."""

    code: str
    name: str
    kind: PlanKind
    level: PlanLevel
    unit: str
    stage: PlanStage
    version: int
    in_force_version: int | None
    issued_on: date | None
    document_number: str | None
    filed_on: date | None
    filing_due: date | None
    filing_overdue: bool
    evaluation_due: date | None
    evaluation_overdue: bool
    last_seq: int
    district: str | None = None
    short_name: str | None = None

    @classmethod
    def of(cls, view: PlanView) -> PlanRow:
        """The register line of a plan as its view shows it."""
        filing = next((d for d in view.deadlines if d.kind is DeadlineKind.FILING), None)
        evaluation = next((d for d in view.deadlines if d.kind is DeadlineKind.EVALUATION), None)
        return cls(
            code=view.code,
            name=view.name,
            kind=view.kind,
            level=view.level,
            unit=view.unit,
            stage=view.stage,
            version=view.version,
            in_force_version=view.in_force_version,
            issued_on=view.issue.issued_on if view.issue else None,
            document_number=view.issue.document_number if view.issue else None,
            filed_on=view.filing.filed_on if view.filing else None,
            filing_due=filing.due if filing else None,
            filing_overdue=view.filing_overdue,
            evaluation_due=evaluation.due if evaluation else None,
            evaluation_overdue=view.evaluation_overdue,
            last_seq=view.last_seq,
            district=view.district,
            short_name=view.short_name,
        )


class PlanProjection(Model):
    """Input of the projection activity: what changed — the register line, the events since
    last time and the revisions they open — never the whole view (its size grows with the plan).

    ``view`` is what runs recorded before ``row`` existed sent; it is still read, so that a
    projection scheduled by an older worker completes."""

    workflow_id: str
    row: PlanRow | None = None
    events: list[PlanEvent]
    revisions: list[RevisionRecord] = Field(default_factory=list)
    view: PlanView | None = None


class ProjectionResult(Model):
    events_written: int
    events_already_present: int
    snapshot_applied: bool


class WorkingDaysInput(Model):
    start: date
    days: int = Field(ge=0)


class WorkingDaysResult(Model):
    due: date
    exact: bool
