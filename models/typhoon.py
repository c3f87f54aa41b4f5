"""Typhoon evacuation tallies (台风 紧急转移安置), DOMAIN.md §3 and §5.

Reports are cumulative per unit: the district total is the sum over units of each unit's latest
figures (latest by as-of time, then by arrival). Keep apart 紧急避险转移 (pre-emptive, people who
leave and soon return) and 紧急转移安置 (evacuated and sheltered: 集中 in shelters + 分散 with
relatives).

The same event serves other hazards (暴雨, 寒潮): ``hazard`` says which. A typhoon is keyed by its
national number (``2024:13``, workflow ``typhoon:2024:13``); another event by a code the bureau
gives it (``2024:RS0721``, workflow ``event:2024:RS0721``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import AwareDatetime, Field, model_validator

from models.common import (
    FIRST_YEAR,
    LAST_YEAR,
    Inconsistent,
    LabelledEnum,
    Model,
    Request,
    StepTime,
    labelled,
    step_time_field,
)
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


class Hazard(LabelledEnum):
    TYPHOON = "typhoon"
    RAINSTORM = "rainstorm"
    COLD_WAVE = "cold_wave"


labelled(Hazard, {"typhoon": "台风", "rainstorm": "暴雨", "cold_wave": "寒潮"})

#: The code of an event other than a typhoon: a letter first (a typhoon's key is a number).
EVENT_CODE = r"^[A-Za-z][A-Za-z0-9-]{0,10}$"
#: ``{year}:{number}`` (a typhoon) or ``{year}:{code}`` (another hazard's event).
EVENT_ID = r"^[0-9]{4}:([0-9]{1,2}|[A-Za-z][A-Za-z0-9-]{0,10})$"


def typhoon_id(year: int, number: int) -> str:
    """The business key: ``{year}:{number}``, e.g. ``2024:13`` for 贝碧嘉."""
    return f"{year}:{number}"


def event_workflow_id(event_id: str) -> str:
    """``typhoon:{year}:{number}`` for a typhoon, ``event:{year}:{code}`` for another hazard."""
    _, _, key = event_id.partition(":")
    return f"typhoon:{event_id}" if key.isdigit() else f"event:{event_id}"


MAX_PEOPLE = 100_000_000  # bounds every stored count (PostgreSQL integer columns)


def _count(value: Any) -> bool:
    """A whole number of people within the bounds of a count."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return whole and not isinstance(value, bool) and 0 <= value <= MAX_PEOPLE


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
            # each part a count in bounds (1.0 is a whole number in JSON); else the fields say
            if all(_count(p) for p in parts):
                total = int(sum(parts))
                if total > MAX_PEOPLE:
                    raise Inconsistent(
                        f"centralized, dispersed: 集中 + 分散 = {total:,} exceeds {MAX_PEOPLE:,}"
                    )
                data = {**data, "relocated": total}
        return data

    @model_validator(mode="after")
    def _parts_make_the_whole(self) -> Figures:
        if self.centralized + self.dispersed != self.relocated:
            raise Inconsistent(
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
    #: 在住 = 紧急转移安置 − 已返回, summed per unit (never below zero for one unit).
    staying: int = Field(default=0, ge=0, description="在住 = 安置 − 返回")

    @model_validator(mode="before")
    @classmethod
    def _staying(cls, data: Any) -> Any:
        """Totals recorded before 在住 was kept: it is 安置 − 返回."""
        if isinstance(data, dict) and data.get("staying") is None:
            relocated = data.get("relocated")
            if relocated is None:
                parts = [data.get("centralized", 0), data.get("dispersed", 0)]
                relocated = sum(p for p in parts if isinstance(p, int))
            returned = data.get("returned", 0)
            if isinstance(relocated, int) and isinstance(returned, int):
                data = {**data, "staying": max(relocated - returned, 0)}
        return data

    @classmethod
    def of(cls, rows: dict[str, Any]) -> Totals:
        keys = (*FIGURE_FIELDS, "units_reported")
        values = {k: int(rows.get(k) or 0) for k in keys}
        if rows.get("staying") is not None:
            values["staying"] = int(rows["staying"])
        return cls(**values)


# -- inputs --


class TyphoonOpen(Model):
    is_input: ClassVar[bool] = True

    year: int = Field(ge=FIRST_YEAR, le=LAST_YEAR)
    number: int | None = Field(
        default=None, ge=1, le=99, description="national typhoon number (a typhoon only)"
    )
    name: str = Field(max_length=100, min_length=1, description="e.g. 贝碧嘉")
    district: str = Field(
        max_length=100, min_length=1, description="the district whose units report, e.g. 某某区"
    )
    opened_by: str = Field(max_length=100, min_length=1)
    level: ResponseLevel = ResponseLevel.NONE
    warning: WarningColour = WarningColour.NONE
    at: StepTime | None = step_time_field()
    hazard: Hazard = Field(default=Hazard.TYPHOON, description="typhoon 台风, rainstorm 暴雨, …")
    code: str | None = Field(
        default=None,
        pattern=EVENT_CODE,
        description="another hazard's event code, e.g. RS0721 (a letter first, at most 11)",
    )

    @model_validator(mode="after")
    def _key(self) -> TyphoonOpen:
        if self.hazard is Hazard.TYPHOON:
            if self.number is None:
                raise Inconsistent("number: a typhoon needs its national number")
            if self.code is not None:
                raise Inconsistent("code: a typhoon is keyed by its number, not a code")
        else:
            if self.code is None:
                raise Inconsistent(f"code: a {self.hazard.value} event needs a code, e.g. RS0721")
            if self.number is not None:
                raise Inconsistent(
                    f"number: only a typhoon has a number, not a {self.hazard.value}"
                )
        return self

    @property
    def event_id(self) -> str:
        if self.number is not None:
            return typhoon_id(self.year, self.number)
        return f"{self.year}:{self.code}"


class ActionKind(LabelledEnum):
    CALL = "call"
    SHELTERS = "shelters"
    INSTRUCT = "instruct"


labelled(ActionKind, {"call": "叫应", "shelters": "开放避难场所", "instruct": "工作指令"})


class ResponseAction(Model):
    """One action a response level starts: a 叫应 of the district (``call``), shelters to open
    (``shelters``: a task for the duty officer, done once a shelter is opened after it), or an
    instruction to every 街镇 (``instruct``) whose feedback is due ``due_minutes`` later."""

    kind: ActionKind
    text: str = Field(default="", max_length=500)
    due_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)

    @model_validator(mode="after")
    def _instruction_has_text(self) -> ResponseAction:
        if self.kind is ActionKind.INSTRUCT and (not self.text or self.due_minutes is None):
            raise Inconsistent("text, due_minutes: an instruction needs its text and its deadline")
        return self


class RoundRules(Model):
    """Reporting rounds: every ``every_minutes`` while a response is on (0: on demand only),
    each due ``due_minutes`` after it opens; a unit that has not reported is reminded
    ``remind_minutes`` after the deadline (its A officer), escalated ``escalate_minutes`` after
    it (its B officer and the A officer of the unit above)."""

    every_minutes: int = Field(default=120, ge=0, le=24 * 60)
    due_minutes: int = Field(default=30, ge=1, le=24 * 60)
    remind_minutes: int = Field(default=15, ge=0, le=24 * 60)
    escalate_minutes: int = Field(default=60, ge=1, le=24 * 60)


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
    #: What each response level starts, the first time the event reaches it (level → actions);
    #: None in events opened before the response was kept: then closing needs only the warning
    #: lifted, as it did.
    actions: dict[ResponseLevel, Annotated[list[ResponseAction], Field(max_length=10)]] | None = (
        Field(default=None, max_length=5)
    )
    #: Reporting rounds (未报单位, reminders, escalation); None: none (events opened before).
    rounds: RoundRules | None = None


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


#: At most this many instructions in one event (the response levels' and the duty officer's).
INSTRUCTIONS_MAX = 50
#: At most this many shelters open at once in one event, and opened or closed by one request.
SHELTERS_OPEN_MAX = 3000
SHELTERS_PER_REQUEST = 500
#: Rounds the state keeps (every round is in ``typhoon_round``); units named per round.
ROUNDS_KEPT = 12
ROUND_UNITS_NAMED = 200


class InstructionInput(Request):
    """An instruction to every 街镇 (工作指令), besides those a level starts; feedback is due
    ``due_minutes`` after it."""

    text: str = Field(min_length=1, max_length=500)
    due_minutes: int = Field(ge=1, le=7 * 24 * 60)
    by: str = Field(max_length=100, min_length=1)
    at: StepTime | None = step_time_field()


class FeedbackInput(Request):
    """A 街镇's feedback (反馈) on an instruction; after its deadline it is marked late."""

    instruction: str = Field(pattern=r"^I[0-9]{1,3}$", description="e.g. I1")
    town: str = Field(min_length=1, max_length=100, description="the 街镇: its code or name")
    text: str = Field(min_length=1, max_length=2000)
    by: str = Field(max_length=100, min_length=1)
    at: StepTime | None = step_time_field()


class RoundInput(Request):
    """Open a reporting round now (on demand)."""

    by: str = Field(max_length=100, min_length=1)
    note: str = Field(default="", max_length=2000)


class ShelterChange(Request):
    """Open or close shelters for this event (codes; the services resolve names first)."""

    shelters: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=SHELTERS_PER_REQUEST
    )
    by: str = Field(max_length=100, min_length=1)
    note: str = Field(default="", max_length=2000)
    at: StepTime | None = step_time_field()


class UnitReport(Model):
    """One report from a 街镇 or 村居. ``report_id`` is its idempotency key."""

    is_input: ClassVar[bool] = True

    event_id: str = Field(pattern=EVENT_ID)
    report_id: str = Field(min_length=1, max_length=128)
    unit: str = Field(max_length=100, min_length=1)
    as_of: AwareDatetime
    figures: Figures
    reported_by: str = Field(max_length=100, min_length=1)
    corrects: str | None = Field(
        max_length=128, default=None, description="report id this one corrects"
    )
    reason: str | None = Field(max_length=2000, default=None, description="why, for a correction")

    @model_validator(mode="after")
    def _correction_has_reason(self) -> UnitReport:
        if self.corrects and not (self.reason or "").strip():
            raise Inconsistent("reason: a correction must say why")
        return self

    @model_validator(mode="after")
    def _figures_agree(self) -> UnitReport:
        """在住 = 安置 − 返回: nobody returns who was not relocated, and the people in shelters
        now are among those placed there (集中) and not returned; people in shelters need a
        shelter open."""
        f = self.figures
        if f.returned > f.relocated:
            raise Inconsistent(
                f"figures.returned: 已返回 {f.returned} > 紧急转移安置 {f.relocated}"
            )
        if f.sheltered_now > f.centralized:
            raise Inconsistent(
                f"figures.sheltered_now: 在住 {f.sheltered_now} > 集中安置 {f.centralized}"
            )
        if f.sheltered_now > f.relocated - f.returned:
            raise Inconsistent(
                f"figures.sheltered_now: 在住 {f.sheltered_now} > 安置 − 返回 = "
                f"{f.relocated} − {f.returned} = {f.relocated - f.returned}"
            )
        if f.sheltered_now and not f.shelters_open:
            raise Inconsistent(
                f"figures.shelters_open: {f.sheltered_now} people in shelters but no shelter "
                "open; give the shelters open"
            )
        return self


class OccupancyReport(Model):
    """How many people one shelter holds now (在住), as of a time. ``report_id`` is its
    idempotency key; a later report supersedes an earlier one, as for a unit's."""

    is_input: ClassVar[bool] = True

    event_id: str = Field(pattern=EVENT_ID)
    report_id: str = Field(min_length=1, max_length=128)
    shelter: str = Field(min_length=1, max_length=100, description="its code, or its name")
    as_of: AwareDatetime
    occupancy: int = Field(ge=0, le=MAX_PEOPLE, description="在住人数")
    reported_by: str = Field(max_length=100, min_length=1)
    corrects: str | None = Field(max_length=128, default=None)
    reason: str | None = Field(max_length=2000, default=None)

    @model_validator(mode="after")
    def _correction_has_reason(self) -> OccupancyReport:
        if self.corrects and not (self.reason or "").strip():
            raise Inconsistent("reason: a correction must say why")
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


class ShelterOccupancy(Model):
    code: str
    occupancy: int
    as_of: datetime | None = None


class OpenShelter(Model):
    """A shelter open for the event, with its latest occupancy."""

    code: str
    name: str
    town: str = Field(description="the 街镇's code")
    capacity: int
    opened_at: datetime
    occupancy: int = 0
    as_of: datetime | None = None


class ActionRecord(Model):
    """An action a level started: when, what, and what it refers to (a warning, an
    instruction); a ``shelters`` action is done once a shelter is opened after it."""

    at: datetime
    level: ResponseLevel
    kind: ActionKind
    text: str = ""
    ref: str = ""
    done: bool = False


class FeedbackMark(Model):
    at: datetime
    by: str
    late: bool


class Instruction(Model):
    id: str
    text: str
    level: ResponseLevel | None = None
    issued_at: datetime
    due_at: datetime
    by: str
    towns: list[str] = Field(description="the 街镇 codes it went to")
    feedback: dict[str, FeedbackMark] = Field(default_factory=dict)
    #: 街镇 without feedback when the deadline passed (codes), once it has.
    overdue: list[str] = Field(default_factory=list)
    checked: bool = False


class RoundUnit(Model):
    code: str
    name: str
    town: str = ""
    late_minutes: int | None = None


class RoundRecord(Model):
    no: int
    opened_at: datetime
    due_at: datetime
    by: str
    units: int = 0
    reported: int = 0
    late: list[RoundUnit] = Field(default_factory=list, description="reported after the deadline")
    missing: list[RoundUnit] = Field(default_factory=list, description="未报单位 (first 200)")
    missing_count: int = 0
    stage: str = Field(default="open", description="open | due | reminded | escalated")
    reminded: int = 0
    escalated: int = 0
    no_officer: list[str] = Field(default_factory=list)
    checked_at: datetime | None = None


class RoundOpen(Model):
    event_id: str
    no: int = Field(ge=1)
    opened_at: datetime
    due_at: datetime
    by: str


class RoundCheck(Model):
    """A round's status at ``stage`` (due | remind | escalate) at ``now``; remind and escalate
    notify the missing units' officers (once per round, unit and person)."""

    event_id: str
    name: str
    no: int = Field(ge=1)
    stage: str = Field(pattern=r"^(due|remind|escalate|final)$")
    now: datetime
    due_at: datetime
    workflow_id: str


class RoundStatus(Model):
    units: int
    reported: int
    late: list[RoundUnit]
    missing: list[RoundUnit]
    missing_count: int
    notified: int = 0
    no_officer: list[str] = Field(default_factory=list)


class TownRef(Model):
    code: str
    name: str


class TownList(Model):
    towns: list[TownRef]


class ShelterOpenInput(Model):
    event_id: str
    codes: list[str] = Field(max_length=SHELTERS_PER_REQUEST)
    at: datetime
    by: str
    close: bool = False


class ShelterOpenResult(Model):
    shelters: list[OpenShelter] = Field(default_factory=list)
    #: Why nothing was changed (a code not in the district's register), else None.
    refused: str | None = None


class InstructionRow(Model):
    """An instruction as the projection writes it (the duty room's overdue list reads it)."""

    id: str
    text: str
    issued_at: datetime
    due_at: datetime
    towns: int
    answered: int
    overdue: list[str] = Field(default_factory=list, description="names of 街镇 overdue")


class ApplyResult(Model):
    batch: int
    reports_applied: int
    towns: list[TownTotals] = Field(description="towns whose totals changed")
    district: Totals
    #: The peak of 在住 over the reports' own times (see ``stores.typhoon.PEAK``); None in
    #: results recorded before it was computed, whose workflows keep the old running maximum.
    peak_sheltered: int | None = None
    peak_at: datetime | None = None
    #: Shelter occupancy reports claimed by the batch, and the shelters whose latest changed.
    shelter_reports_applied: int = 0
    shelters: list[ShelterOccupancy] = Field(default_factory=list)


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
    # The response, shelters and rounds (issue [5/7]); empty in events opened before.
    actions: list[ActionRecord] = Field(default_factory=list)
    #: Levels whose actions have started (each level's once per event).
    levels_started: list[ResponseLevel] = Field(default_factory=list)
    instructions: list[Instruction] = Field(default_factory=list)
    shelters: dict[str, OpenShelter] = Field(default_factory=dict)
    shelter_reports_applied: int = 0
    rounds: list[RoundRecord] = Field(default_factory=list)
    round_no: int = 0
    next_round_at: datetime | None = None


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
            raise Inconsistent("exactly one of open and state must be given")
        return self


class ShelterLine(Model):
    code: str
    name: str
    town: str
    capacity: int
    occupancy: int
    as_of: datetime | None = None
    over_capacity: bool = False


class Mismatch(Model):
    """A 街镇 whose 集中安置 in shelters now (its units' 在住) differs from the occupancy its
    open shelters report: shown, not refused."""

    town: str
    name: str = ""
    sheltered_now: int
    occupancy: int


class InstructionLine(Model):
    id: str
    text: str
    level: ResponseLevel | None = None
    issued_at: datetime
    due_at: datetime
    by: str
    towns: int
    answered: int
    late: list[str] = Field(default_factory=list, description="街镇 that answered after the due")
    pending: list[str] = Field(default_factory=list, description="街镇 not answered yet")
    overdue: list[str] = Field(default_factory=list, description="not answered by the deadline")


class TyphoonBoard(Model):
    event_id: str
    year: int
    number: int | None
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
    hazard: Hazard = Hazard.TYPHOON
    code: str | None = None
    actions: list[ActionRecord] = Field(default_factory=list)
    instructions: list[InstructionLine] = Field(default_factory=list)
    shelters: list[ShelterLine] = Field(default_factory=list)
    shelter_capacity: int = 0
    shelter_occupancy: int = 0
    shelter_reports_applied: int = 0
    mismatches: list[Mismatch] = Field(default_factory=list)
    rounds: list[RoundRecord] = Field(default_factory=list)
    next_round_at: datetime | None = None


class TyphoonProjection(Model):
    workflow_id: str
    board: TyphoonBoard
    events: list[TyphoonEvent]
    #: The instructions the events touched (written to ``typhoon_instruction``).
    instructions: list[InstructionRow] = Field(default_factory=list)


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
