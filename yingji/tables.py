"""SQLModel tables: the records projected from workflows. They never cross a workflow boundary."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def _tz() -> Any:
    return Column(DateTime(timezone=True), nullable=False)


class Plan(SQLModel, table=True):
    __tablename__ = "plan"

    code: str = Field(primary_key=True, max_length=64)
    workflow_id: str = Field(max_length=100)
    name: str
    kind: str = Field(index=True)
    level: str = Field(index=True)
    unit: str
    stage: str = Field(index=True)
    version: int
    in_force_version: int | None = None
    issued_on: date | None = None
    document_number: str | None = None
    filed_on: date | None = None
    filing_due: date | None = None
    filing_overdue: bool = False
    evaluation_due: date | None = None
    evaluation_overdue: bool = False
    last_seq: int
    updated_at: datetime = Field(sa_column=_tz())


class PlanRevision(SQLModel, table=True):
    __tablename__ = "plan_revision"

    plan_code: str = Field(primary_key=True, foreign_key="plan.code", max_length=64)
    version: int = Field(primary_key=True)
    from_version: int
    started_at: datetime = Field(sa_column=_tz())
    causes: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    triggers: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))


class PlanEventRow(SQLModel, table=True):
    __tablename__ = "plan_event"

    plan_code: str = Field(primary_key=True, foreign_key="plan.code", max_length=64)
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=_tz())
    kind: str
    version: int
    stage_from: str | None = None
    stage_to: str
    actor: str
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


class Drill(SQLModel, table=True):
    __tablename__ = "drill"

    code: str = Field(primary_key=True, max_length=64)
    workflow_id: str = Field(max_length=100)
    name: str
    drill_type: str = Field(index=True)
    scenario: str
    organiser: str = Field(index=True)
    site: str
    participants: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    programme_id: str | None = Field(default=None, index=True)
    stage: str = Field(index=True)
    scheduled_on: date
    conducted_on: date | None = None
    participant_count: int | None = None
    evaluation_due: date | None = None
    evaluation_overdue: bool = False
    third_party_evaluation: bool | None = None
    open_actions: int = 0
    overdue_actions: int = 0
    last_seq: int
    updated_at: datetime = Field(sa_column=_tz())


class DrillPlan(SQLModel, table=True):
    """Which plans a drill exercises (for coverage)."""

    __tablename__ = "drill_plan"

    drill_code: str = Field(primary_key=True, foreign_key="drill.code", max_length=64)
    plan_code: str = Field(primary_key=True, max_length=64, index=True)


class DrillFinding(SQLModel, table=True):
    __tablename__ = "drill_finding"

    drill_code: str = Field(primary_key=True, foreign_key="drill.code", max_length=64)
    number: int = Field(primary_key=True)
    severity: str
    category: str
    description: str
    plan_defect: bool
    plan_code: str | None = None


class CorrectiveActionRow(SQLModel, table=True):
    __tablename__ = "corrective_action"

    drill_code: str = Field(primary_key=True, foreign_key="drill.code", max_length=64)
    number: int = Field(primary_key=True)
    finding: int
    description: str
    owner: str
    due_on: date
    done_on: date | None = None
    overdue: bool = False


class DrillEventRow(SQLModel, table=True):
    __tablename__ = "drill_event"

    drill_code: str = Field(primary_key=True, foreign_key="drill.code", max_length=64)
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=_tz())
    kind: str
    stage: str
    actor: str
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


class Programme(SQLModel, table=True):
    __tablename__ = "drill_programme"

    programme_id: str = Field(primary_key=True, max_length=100)
    unit: str
    year: int = Field(index=True)
    items: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    drills: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    revision: int
    updated_at: datetime = Field(sa_column=_tz())


class NotificationRow(SQLModel, table=True):
    """The notifier's outbox: one row per notification key, whatever retries happen."""

    __tablename__ = "notification"

    key: str = Field(primary_key=True, max_length=300)
    recipient: str = Field(index=True)
    subject: str
    body: str
    source: str = Field(index=True)
    created_at: datetime = Field(sa_column=_tz())
