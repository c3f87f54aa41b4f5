"""Disaster reports (灾情报告), 《自然灾害情况统计调查制度》 (DOMAIN.md §4).

One disaster process = 1 初报 (within 2 hours, by 街镇) + n 续报 (daily by 09:00, data as of the
previous 24:00; a zero report counts) + 1 核报 (N working days after the situation is stable).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AwareDatetime, Field, model_validator

from models.common import (
    CODE_PATTERN,
    Inconsistent,
    LabelledEnum,
    Model,
    Request,
    StepTime,
    labelled,
)
from models.typhoon import MAX_PEOPLE
from models.warning import Contact


class ReportKind(LabelledEnum):
    INITIAL = "initial"
    UPDATE = "update"
    FINAL = "final"


labelled(ReportKind, {"initial": "初报", "update": "续报", "final": "核报"})


#: Bounds that keep a process's state (carried whole across continue-as-new) far below
#: Temporal's 2 MB payload limit however long it runs: 街镇 per report (a city has ~200), reports
#: per process, and how many of the latest reports the state keeps in full — older ones keep
#: their figures; their towns and text are in the ``disaster_report`` table.
TOWNS_MAX = 300
REPORTS_MAX = 1000
REPORTS_IN_FULL = 3


class DisasterPhase(LabelledEnum):
    """Where a disaster process stands (what ``expect_stage`` names)."""

    REPORTING = "reporting"
    STABLE = "stable"
    CLOSED = "closed"


labelled(DisasterPhase, {"reporting": "报送中", "stable": "灾情稳定，待核报", "closed": "已结束"})


class ReportStatus(LabelledEnum):
    SUBMITTED = "submitted"
    PASSED = "passed"
    REJECTED = "rejected"
    CORRECTED = "corrected"


labelled(
    ReportStatus,
    {"submitted": "待审核", "passed": "审核通过", "rejected": "退回", "corrected": "已修正"},
)


class Decision(LabelledEnum):
    PASS = "pass"
    REJECT = "reject"
    CORRECT = "correct"


labelled(Decision, {"pass": "通过", "reject": "退回", "correct": "修正"})


class Indicators(Model):
    """The indicators of a report; counts of people, rooms (间), households (户), hectares, 万元."""

    affected: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="受灾人口")
    pre_evacuated: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="紧急避险转移人口")
    relocated: int | None = Field(
        default=None,
        ge=0,
        le=MAX_PEOPLE,
        description="紧急转移安置人口; empty = from the linked typhoon tally",
    )
    centralized: int | None = Field(default=None, ge=0, le=MAX_PEOPLE, description="集中安置")
    dispersed: int | None = Field(default=None, ge=0, le=MAX_PEOPLE, description="分散安置")
    need_aid: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="需紧急生活救助人口")
    dead: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="死亡人口")
    missing: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="失踪人口")
    houses_collapsed: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="倒塌房屋（间）")
    houses_severe: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="严重损坏房屋（间）")
    houses_general: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="一般损坏房屋（间）")
    houses_general_households: int = Field(
        default=0, ge=0, le=MAX_PEOPLE, description="一般损坏房屋（户）"
    )
    crops_affected_ha: float = Field(default=0, ge=0, le=1e9, description="农作物受灾面积（公顷）")
    crops_damaged_ha: float = Field(default=0, ge=0, le=1e9, description="成灾面积")
    crops_failed_ha: float = Field(default=0, ge=0, le=1e9, description="绝收面积")
    direct_loss: float = Field(default=0, ge=0, le=1e9, description="直接经济损失（万元）")
    loss_by_sector: dict[
        Annotated[str, Field(min_length=1, max_length=50)], Annotated[float, Field(ge=0, le=1e9)]
    ] = Field(default_factory=dict, max_length=30, description="万元, by sector (at most 30)")

    @model_validator(mode="after")
    def _parts_within_wholes(self) -> Indicators:
        if self.relocated is not None:
            if self.centralized is None or self.dispersed is None:
                raise Inconsistent("centralized, dispersed: give both with relocated")
            if self.centralized + self.dispersed != self.relocated:
                raise Inconsistent(
                    f"relocated: 集中 {self.centralized} + 分散 {self.dispersed} ≠ 转移安置 "
                    f"{self.relocated}"
                )
            if self.pre_evacuated + self.relocated > self.affected:
                raise Inconsistent(
                    f"affected: 紧急避险转移 {self.pre_evacuated} + 紧急转移安置 {self.relocated} "
                    f"exceed 受灾人口 {self.affected}"
                )
        if self.need_aid > self.affected:
            raise Inconsistent(f"need_aid: {self.need_aid} exceeds 受灾人口 {self.affected}")
        if not self.crops_failed_ha <= self.crops_damaged_ha <= self.crops_affected_ha:
            raise Inconsistent("crops_damaged_ha: need 绝收 ≤ 成灾 ≤ 受灾 (hectares)")
        if sum(self.loss_by_sector.values()) > self.direct_loss + 0.005:
            raise Inconsistent(
                f"loss_by_sector: sectors add to {sum(self.loss_by_sector.values()):.2f} 万元, "
                f"more than 直接经济损失 {self.direct_loss:.2f}"
            )
        return self


#: Indicators whose jump between reports needs a written explanation.
WATCHED = ("affected", "relocated", "dead", "missing", "direct_loss")


class TownFigures(Model):
    town: str = Field(max_length=100, min_length=1)
    indicators: Indicators


class DisasterRules(Model):
    initial_hours: float = Field(default=2.0, gt=0)
    update_hour: int = Field(default=9, ge=0, le=23, description="续报 due at this hour, CST")
    final_working_days: int = Field(default=2, ge=1, description="核报 after stable (verify)")
    remind_after_minutes: float = Field(default=15, ge=0)
    escalate_after_minutes: float = Field(default=60, gt=0)
    change_ratio: float = Field(default=0.5, gt=0, description="a bigger jump needs explaining")


class DisasterOpen(Model):
    is_input: ClassVar[bool] = True

    code: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    name: str = Field(max_length=100, min_length=1, description="e.g. 台风“梅花”灾害过程")
    hazard: str = Field(max_length=100, min_length=1, description="台风, 暴雨洪涝, …")
    district: str = Field(max_length=100, min_length=1)
    occurred_at: StepTime
    opened_by: str = Field(max_length=100, min_length=1)
    officer: Contact
    backup: Contact | None = None
    head: Contact | None = Field(default=None, description="the unit head, told on escalation")
    typhoon_event_id: str | None = Field(default=None, pattern=r"^[0-9]{4}:[0-9]{1,2}$")
    historical: bool = Field(
        default=False,
        description="a past process entered after the fact (yingji load): nobody is reminded "
        "or escalated, no slot is opened by the clock, each report gives its submitted_at",
    )


class DisasterReportInput(Request):
    kind: ReportKind
    report_id: str = Field(min_length=1, max_length=100)
    as_of: AwareDatetime
    by: str = Field(max_length=100, min_length=1)
    indicators: Indicators
    towns: list[TownFigures] = Field(default_factory=list, max_length=TOWNS_MAX)
    narrative: str = Field(default="", max_length=4000)
    explanation: str = Field(
        max_length=2000, default="", description="why figures jumped, when they did"
    )
    photos: int = Field(default=0, ge=0, le=1000)
    submitted_at: AwareDatetime | None = Field(
        default=None, description="when it was submitted; only for a historical process"
    )

    @model_validator(mode="after")
    def _initial_by_town(self) -> DisasterReportInput:
        if self.kind is ReportKind.INITIAL and not self.towns:
            raise Inconsistent("towns: 初报 must be broken down by 街镇")
        return self


class ReviewInput(Request):
    report_id: str = Field(max_length=100, min_length=1)
    reviewer: str = Field(max_length=100, min_length=1)
    decision: Decision
    reason: str = Field(default="", max_length=2000)
    corrected: Indicators | None = None

    @model_validator(mode="after")
    def _reason_and_correction(self) -> ReviewInput:
        if self.decision is Decision.REJECT and not self.reason.strip():
            raise Inconsistent("reason: a rejection must say why")
        if self.decision is Decision.CORRECT and self.corrected is None:
            raise Inconsistent("corrected: a correction gives the corrected indicators")
        return self


class StableInput(Request):
    by: str = Field(max_length=100, min_length=1)
    stable_on: date | None = Field(default=None, description="default today (CST)")


class Slot(Model):
    """A report that is due: 初报, one 续报 a day, 核报."""

    key: str
    kind: ReportKind
    due: datetime
    as_of: datetime | None = None
    report_id: str | None = None
    submitted_at: datetime | None = None
    late: bool = False
    reminded: bool = False
    escalated: bool = False


class ReportRecord(Model):
    report_id: str
    kind: ReportKind
    slot: str
    as_of: datetime
    submitted_at: datetime
    late: bool
    by: str
    indicators: Indicators
    towns: list[TownFigures]
    narrative: str
    explanation: str
    photos: int
    relocation_from_typhoon: bool
    status: ReportStatus = ReportStatus.SUBMITTED
    reviewer: str | None = None
    review_reason: str = ""


class DisasterEvent(Model):
    seq: int
    at: datetime
    kind: str
    detail: dict[str, Any] = Field(default_factory=dict)


class DisasterState(Model):
    """What a process carries into its next run (continue-as-new): a long process opens a
    续报 slot a day, and its history must not outgrow Temporal's limits."""

    slots: list[Slot]
    reports: dict[str, ReportRecord] = Field(default_factory=dict)
    stable_on: date | None = None
    final_due: datetime | None = None
    seq: int = 0
    #: The latest update ids applied, carried across continue-as-new (see workflows.base.once).
    update_ids: list[str] = Field(default_factory=list)


class DisasterInput(Model):
    open: DisasterOpen
    rules: DisasterRules = Field(default_factory=DisasterRules)
    #: Set when a run continues as new: the process so far, and events not yet projected.
    state: DisasterState | None = None
    outbox: list[DisasterEvent] = Field(default_factory=list)


class DisasterView(Model):
    code: str
    name: str
    hazard: str
    district: str
    occurred_at: datetime
    typhoon_event_id: str | None
    stable_on: date | None
    final_due: datetime | None
    closed: bool
    slots: list[Slot]
    reports: list[ReportRecord]
    latest: Indicators | None
    overdue: list[str]
    last_seq: int


class DisasterLine(Model):
    """The process's line in the ``disaster`` table."""

    code: str
    name: str
    hazard: str
    district: str
    occurred_at: datetime
    stable_on: date | None
    final_due: datetime | None
    closed: bool
    latest: Indicators | None
    reports: int
    late_reports: int
    overdue: list[str]
    last_seq: int
    #: The typhoon whose tally it takes (0019): the summary counts the process for that event.
    typhoon_event_id: str | None = None

    @classmethod
    def of(cls, view: DisasterView) -> DisasterLine:
        """The process's line as its view shows it."""
        return cls(
            **view.model_dump(include=LINE_FIELDS),
            reports=len(view.reports),
            late_reports=sum(r.late for r in view.reports),
        )


#: What a disaster's line takes from its view as it is.
LINE_FIELDS = {
    "code", "name", "hazard", "district", "occurred_at", "stable_on", "final_due", "closed",
    "latest", "overdue", "last_seq", "typhoon_event_id",
}  # fmt: skip


class DisasterProjection(Model):
    """What changed: the process's line, the events since last time and the reports they
    touched (in full). ``view`` is what runs recorded before ``line`` existed sent; it is still
    read, so that a projection scheduled by an older worker completes."""

    workflow_id: str
    line: DisasterLine | None = None
    reports: list[ReportRecord] = Field(default_factory=list)
    events: list[DisasterEvent]
    view: DisasterView | None = None


class TyphoonRelocation(Model):
    relocated: int
    centralized: int
    dispersed: int
