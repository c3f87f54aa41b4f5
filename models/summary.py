"""Year-end summary (年度总结): the disaster-response section of the bureau's annual report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from models.common import Inconsistent, Model


class SummaryInput(Model):
    """``year`` empty: the year before the one the run starts in (what the schedule sends)."""

    year: int | None = Field(default=None, ge=2000, le=2100)
    district: str = Field(min_length=1)
    bureau: str = Field(min_length=1, description="e.g. 某某区应急管理局")
    requested_by: str = Field(min_length=1)
    # Added after histories were recorded: old payloads decode as a district bureau.
    level: Literal["district", "city"] = Field(
        default="district", description="the bureau's level: a city counts its districts too"
    )
    #: Count up to this day (a report written before the year ends: "截至10月底"); empty: the
    #: year's 31 December. Added later: old payloads decode without it.
    as_of: date | None = Field(default=None, description="count up to this day (default 31 Dec)")

    @model_validator(mode="after")
    def _as_of_in_year(self) -> SummaryInput:
        if self.as_of is not None and self.year is not None and self.as_of.year != self.year:
            raise Inconsistent(f"as_of: {self.as_of.isoformat()} is not in {self.year}")
        if self.as_of is not None and self.year is None:
            raise Inconsistent("as_of: give the year it belongs to")
        return self


class SummaryRequest(Model):
    year: int
    district: str
    bureau: str
    run_key: str = Field(description="workflow id + run id: one stored version per run")
    level: Literal["district", "city"] = "district"
    as_of: date | None = None


class NamedCount(Model):
    name: str
    count: int


class DrillFigure(Model):
    name: str
    scheduled_on: str
    units: int
    participants: int | None
    #: The district or city whose drill it was (added later; None in old payloads).
    district: str | None = None


class TyphoonFigure(Model):
    name: str
    number: int
    relocated: int


Name = Annotated[str, Field(max_length=200)]
Count = Annotated[int, Field(ge=0)]


class RevisedPlan(Model):
    """A plan whose revision started, or whose revised version was issued, in the period."""

    code: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    jlevel: Literal["city", "district"]
    #: 简称, or the title with its jurisdiction and "应急预案" taken off.
    topic: str = Field(max_length=200)
    version: int = Field(ge=1)


class EventFigure(Model):
    """A closed event (typhoon, rainstorm, cold wave) of the period, with its tally and whether
    its disaster statistics were completed (every process's 核报 passed review)."""

    event_id: str = Field(max_length=16)
    name: str = Field(max_length=200)
    number: int
    hazard: str = Field(max_length=20, description="台风, 暴雨, 寒潮")
    pre_evacuated: int = Field(ge=0)
    relocated: int = Field(ge=0)
    centralized: int = Field(ge=0)
    dispersed: int = Field(ge=0)
    shelters_open: int = Field(ge=0)
    processes: int = Field(ge=0, description="disaster processes of the event")
    processes_final: int = Field(ge=0, description="of them, with a 核报 that passed review")


class ProgrammeFigure(Model):
    """A drill programme whose drills were held in the period: its cadence and how many."""

    programme_id: str = Field(max_length=100)
    unit: str = Field(max_length=200)
    #: "月度实战演练", "季度技能比武", "年度综合拉动": frequency then title, in the
    #: programme's order.
    pattern: list[Name] = Field(default_factory=list, max_length=20)
    drills: int = Field(ge=0)


class SummaryFigures(Model):
    year: int
    district: str
    plans_made: dict[str, int] = Field(description="plans issued for the first time, by kind")
    plans_made_by_level: dict[str, int]
    revisions_started: int
    # Added after histories were recorded: defaults keep old payloads decodable on replay.
    plans_revised: dict[str, int] = Field(
        default_factory=dict, description="revisions started in the year, by kind"
    )
    plans_revised_by_level: dict[str, int] = Field(default_factory=dict)
    special_plans_revised: list[str]
    drills_by_type: dict[str, int]
    drills_conducted: int
    comprehensive_drills: list[DrillFigure]
    typhoons: list[TyphoonFigure]
    typhoon_relocated: int
    reports_on_time: int
    reports_late: int
    officers: int
    officer_units: int
    officer_gaps: int
    warnings: int
    call_targets: int
    calls_answered: int
    actions_done: int
    actions_open: int
    # Added for city bureaus; defaults keep old payloads decodable on replay.
    level: Literal["district", "city"] = "district"
    #: A city bureau's districts (registered under the city's unit) whose figures are counted.
    districts: list[str] = Field(default_factory=list)
    plans_made_by_jurisdiction: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="plans issued for the first time, by jurisdiction level (city | district) "
        "then by kind",
    )
    #: How many of a city's districts issued an overall plan (总体应急预案) for the first time.
    districts_with_overall_plan: int = 0
    drills_by_jurisdiction: dict[str, int] = Field(
        default_factory=dict, description="drills conducted, by jurisdiction level"
    )
    # [6/7]: the section the bureau would have written. Defaults keep old payloads decodable.
    #: The last day counted (31 December, or the ``as_of`` of a run).
    as_of: date | None = None
    #: Plans the bureau receives for filing (企事业单位 and 现场处置方案), filed in the period.
    plans_received: Count = 0
    #: Revisions started, and revised versions (v2+) issued, in the period, in order.
    revisions_started_plans: list[RevisedPlan] = Field(default_factory=list, max_length=20_000)
    revisions_completed_plans: list[RevisedPlan] = Field(default_factory=list, max_length=20_000)
    #: Special plans of each jurisdiction level issued by the period's end and not abolished:
    #: what "全部修编完成" compares with.
    special_plans_by_jurisdiction: dict[str, Count] = Field(default_factory=dict, max_length=2)
    #: Overall plans ever issued by the period's end: the city's own, and how many districts.
    city_overall_issued: Count = 0
    districts_overall_issued: Count = 0
    drills_by_form: dict[str, Count] = Field(default_factory=dict, max_length=2)
    drills_by_scope: dict[str, Count] = Field(default_factory=dict, max_length=2)
    programmes: list[ProgrammeFigure] = Field(default_factory=list, max_length=200)
    events: list[EventFigure] = Field(default_factory=list, max_length=2_000)
    #: Disaster processes with a report in the period; reports by kind (初报/续报/核报) as the
    #: bureau counts them (one sent back is counted apart, as rejected: the one sent again in its
    #: place is its slot's report); the late ones, and the rejected.
    disaster_processes: Count = 0
    reports_by_kind: dict[str, Count] = Field(default_factory=dict, max_length=3)
    reports_rejected: Count = 0
    #: The year's losses from 核报 that passed review.
    final_reports: Count = 0
    affected: Count = 0
    relocated_final: Count = 0
    direct_loss: float = Field(default=0.0, ge=0)
    #: 街镇 and 村居: registered, and covered by an active officer on the last day.
    units_by_level: dict[str, Count] = Field(default_factory=dict, max_length=4)
    officer_units_by_level: dict[str, Count] = Field(default_factory=dict, max_length=4)
    #: 叫应 chains (one per responsible post) not answered by the person first called.
    calls_not_answered: Count = 0
    plans_evaluation_overdue: Count = 0


class SummaryDocument(Model):
    year: int
    district: str
    version: int
    title: str
    markdown: str
    figures: SummaryFigures
    content_hash: str
    created_at: datetime


class StoreInput(Model):
    request: SummaryRequest
    figures: SummaryFigures
