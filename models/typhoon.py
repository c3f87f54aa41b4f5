"""Typhoon evacuation tallies (台风 紧急转移安置), DOMAIN.md §3 and §5.

Reports are cumulative per unit: the district total is the sum over units of each unit's latest
figures (latest by as-of time, then by arrival). Keep apart 紧急避险转移 (pre-emptive, people who
leave and soon return) and 紧急转移安置 (evacuated and sheltered: 集中 in shelters + 分散 with
relatives).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, model_validator

from models.common import LabelledEnum, Model, Request, StepTime, labelled, step_time_field
from models.warning import CallRules


class ResponseLevel(LabelledEnum):
    NONE = "none"
    IV = "IV"
    III = "III"
    II = "II"
    I = "I"  # noqa: E741 - the level's name


labelled(
    ResponseLevel,
    {"none": "未启动", "IV": "Ⅳ级", "III": "Ⅲ级", "II": "Ⅱ级", "I": "Ⅰ级"},
)


class WarningColour(LabelledEnum):
    NONE = "none"
    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"
    LIFTED = "lifted"


labelled(
    WarningColour,
    {
        "none": "无预警",
        "blue": "蓝色预警",
        "yellow": "黄色预警",
        "orange": "橙色预警",
        "red": "红色预警",
        "lifted": "预警解除",
    },
)


class TyphoonStatus(LabelledEnum):
    OPEN = "open"
    CLOSED = "closed"


labelled(TyphoonStatus, {"open": "进行中", "closed": "已结束"})


def typhoon_id(year: int, number: int) -> str:
    """The business key: ``{year}:{number}``, e.g. ``2024:13`` for 贝碧嘉."""
    return f"{year}:{number}"


MAX_PEOPLE = 100_000_000  # bounds every stored count (PostgreSQL integer columns)


class Figures(Model):
    """A unit's cumulative figures as of a time."""

    pre_evacuated: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="紧急避险转移")
    relocated: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="紧急转移安置 = 集中 + 分散")
    centralized: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="集中安置")
    dispersed: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="分散安置")
    returned: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="已返回")
    shelters_open: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="开放避难场所")
    sheltered_now: int = Field(default=0, ge=0, le=MAX_PEOPLE, description="避难场所在住人数")

    @model_validator(mode="before")
    @classmethod
    def _whole_from_parts(cls, data: Any) -> Any:
        """紧急转移安置 left out is 集中 + 分散 (as the CLI has always done)."""
        if isinstance(data, dict) and data.get("relocated") is None:
            parts = [data.get("centralized", 0), data.get("dispersed", 0)]
            if all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
                data = {**data, "relocated": sum(parts)}
        return data

    @model_validator(mode="after")
    def _parts_make_the_whole(self) -> Figures:
        if self.centralized + self.dispersed != self.relocated:
            raise ValueError(
                f"relocated: 集中 {self.centralized} + 分散 {self.dispersed} = "
                f"{self.centralized + self.dispersed} ≠ 转移安置 {self.relocated}"
            )
        return self


FIGURE_FIELDS = tuple(Figures.model_fields)


class Totals(Figures):
    """Figures summed over units; ``units_reported`` counts units with a report. A sum is not
    capped as one unit's figure is: 25 units at the cap would otherwise stop the tally."""

    pre_evacuated: int = Field(default=0, ge=0)
    relocated: int = Field(default=0, ge=0)
    centralized: int = Field(default=0, ge=0)
    dispersed: int = Field(default=0, ge=0)
    returned: int = Field(default=0, ge=0)
    shelters_open: int = Field(default=0, ge=0)
    sheltered_now: int = Field(default=0, ge=0)
    units_reported: int = 0

    @classmethod
    def of(cls, rows: dict[str, Any]) -> Totals:
        return cls(**{k: int(rows.get(k) or 0) for k in (*FIGURE_FIELDS, "units_reported")})


# -- inputs --


class TyphoonOpen(Model):
    year: int = Field(ge=1949, le=2100)
    number: int = Field(ge=1, le=99, description="national typhoon number")
    name: str = Field(max_length=100, min_length=1, description="e.g. 贝碧嘉")
    district: str = Field(
        max_length=100, min_length=1, description="the district whose units report, e.g. 某某区"
    )
    opened_by: str = Field(max_length=100, min_length=1)
    level: ResponseLevel = ResponseLevel.NONE
    warning: WarningColour = WarningColour.NONE
    at: StepTime | None = step_time_field()

    @property
    def event_id(self) -> str:
        return typhoon_id(self.year, self.number)


class TyphoonRules(Model):
    """How often reports are applied: quickly while they flow, backing off when quiet."""

    apply_min_seconds: float = Field(default=0.5, gt=0)
    apply_max_seconds: float = Field(default=15.0, gt=0)
    #: A level change at or above ``call_level``, or a warning at or above ``call_colour``,
    #: starts a 叫应 of the district's responsible people (``call_target`` level) once per
    #: change; ``calls`` None: never (as typhoons opened before this rule).
    call_level: ResponseLevel | None = None
    call_colour: WarningColour | None = None
    call_target: str = Field(default="town", pattern=r"^(district|town|village)$")
    calls: CallRules | None = None
    call_batch_size: int = Field(default=250, ge=1, le=1000)
    call_progress_seconds: float = Field(default=2.0, gt=0)


class LevelChange(Request):
    level: ResponseLevel
    warning: WarningColour
    by: str = Field(max_length=100, min_length=1)
    note: str = Field(default="", max_length=2000)
    at: StepTime | None = step_time_field()


class CloseTyphoon(Request):
    by: str = Field(max_length=100, min_length=1)
    note: str = Field(default="", max_length=2000)
    at: StepTime | None = step_time_field()


class UnitReport(Model):
    """One report from a 街镇 or 村居. ``report_id`` is its idempotency key."""

    event_id: str = Field(pattern=r"^\d{4}:\d{1,2}$")
    report_id: str = Field(min_length=1, max_length=128)
    unit: str = Field(max_length=100, min_length=1)
    as_of: AwareDatetime
    figures: Figures
    reported_by: str = Field(max_length=100, min_length=1)
    corrects: str | None = Field(
        max_length=100, default=None, description="report id this one corrects"
    )
    reason: str | None = Field(max_length=2000, default=None, description="why, for a correction")

    @model_validator(mode="after")
    def _correction_has_reason(self) -> UnitReport:
        if self.corrects and not (self.reason or "").strip():
            raise ValueError("reason: a correction must say why")
        return self


class ReportReceipt(Model):
    report_id: str
    status: str = Field(description="accepted | duplicate | late | correction")
    message: str


# -- state and outputs --


class LevelRecord(Model):
    at: datetime
    level: ResponseLevel
    warning: WarningColour
    by: str
    note: str = ""


class TownTotals(Model):
    town: str = Field(description="the 街镇's code")
    totals: Totals
    name: str = Field(default="", max_length=64, description="the 街镇's name in the register")


class ApplyInput(Model):
    event_id: str
    batch: int = Field(ge=1)


class ApplyResult(Model):
    batch: int
    reports_applied: int
    towns: list[TownTotals] = Field(description="towns whose totals changed")
    district: Totals
    #: The peak of 在住 over the reports' own times (see ``stores.typhoon.PEAK``); None in
    #: results recorded before it was computed, whose workflows keep the old running maximum.
    peak_sheltered: int | None = None
    peak_at: datetime | None = None


class TyphoonEvent(Model):
    seq: int
    at: datetime
    kind: str
    detail: dict[str, Any] = Field(default_factory=dict)


class TyphoonState(Model):
    open: TyphoonOpen
    rules: TyphoonRules
    status: TyphoonStatus = TyphoonStatus.OPEN
    levels: list[LevelRecord] = Field(default_factory=list)
    towns: dict[str, Totals] = Field(default_factory=dict)
    #: 街镇 code → name, as the apply found it in the register (the board shows names).
    town_names: dict[str, str] = Field(default_factory=dict)
    district: Totals = Field(default_factory=Totals)
    peak_sheltered: int = 0
    peak_at: datetime | None = None
    batches_applied: int = 0
    reports_applied: int = 0
    closed_at: datetime | None = None
    seq: int = 0
    # Added after histories were recorded: defaults keep old payloads decodable on replay.
    #: Loaded from a scenario (``yingji load``): an opening without ``at`` has no known time,
    #: so the first level change may be earlier than it.
    historical: bool = False
    #: When the latest level change (or the opening) was recorded; an ``at`` may not be earlier.
    last_at: datetime | None = None
    #: The latest update ids applied, carried across continue-as-new (see workflows.base.once).
    update_ids: list[str] = Field(default_factory=list)
    #: The 叫应 its level changes started (warning ids).
    warnings: list[str] = Field(default_factory=list)


class TyphoonWorkflowInput(Model):
    open: TyphoonOpen | None = None
    rules: TyphoonRules = Field(default_factory=TyphoonRules)
    state: TyphoonState | None = None
    outbox: list[TyphoonEvent] = Field(default_factory=list)
    #: A past typhoon replayed by ``yingji load`` (see TyphoonState.historical).
    historical: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> TyphoonWorkflowInput:
        if (self.open is None) == (self.state is None):
            raise ValueError("exactly one of open and state must be given")
        return self


class TyphoonBoard(Model):
    event_id: str
    year: int
    number: int
    name: str
    district: str
    status: TyphoonStatus
    level: ResponseLevel
    warning: WarningColour
    levels: list[LevelRecord]
    towns: list[TownTotals]
    district_totals: Totals
    peak_sheltered: int
    peak_at: datetime | None
    batches_applied: int
    reports_applied: int
    closed_at: datetime | None
    last_seq: int
    #: The 叫应 started by its level changes (``warning:{id}``), newest last.
    warnings: list[str] = Field(default_factory=list)


class TyphoonProjection(Model):
    workflow_id: str
    board: TyphoonBoard
    events: list[TyphoonEvent]


class RegisterInput(Model):
    open: TyphoonOpen
    workflow_id: str


class RegisterResult(Model):
    units: int
    towns: int


class EventRef(Model):
    event_id: str


class CloseResult(Model):
    closed: bool
