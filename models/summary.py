"""Year-end summary (年度总结): the disaster-response section of the bureau's annual report."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from models.common import Model


class SummaryInput(Model):
    """``year`` empty: the year before the one the run starts in (what the schedule sends)."""

    year: int | None = Field(default=None, ge=2000, le=2100)
    district: str = Field(min_length=1)
    bureau: str = Field(min_length=1, description="e.g. 某某区应急管理局")
    requested_by: str = Field(min_length=1)


class SummaryRequest(Model):
    year: int
    district: str
    bureau: str
    run_key: str = Field(description="workflow id + run id: one stored version per run")


class NamedCount(Model):
    name: str
    count: int


class DrillFigure(Model):
    name: str
    scheduled_on: str
    units: int
    participants: int | None


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
