"""Year-end summary (年度总结): the disaster-response section of the bureau's annual report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from models.common import Model


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


class SummaryRequest(Model):
    year: int
    district: str
    bureau: str
    run_key: str = Field(description="workflow id + run id: one stored version per run")
    level: Literal["district", "city"] = "district"


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
