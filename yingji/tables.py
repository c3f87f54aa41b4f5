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
