"""SQLModel tables: the records projected from workflows. They never cross a workflow boundary."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def _zero() -> Any:
    """An integer column that starts at 0 in the database too (rows inserted by plain SQL)."""
    return Field(default=0, sa_column_kwargs={"server_default": "0"})


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
    #: 辖区 and its level (city | district); NULL before 0009: the configured district's.
    district: str | None = Field(default=None, index=True)
    district_level: str | None = None
    #: 简称 (0017): the topic a revision list names it by; NULL when not given.
    short_name: str | None = None


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
    #: 辖区 and its level (city | district); NULL before 0009: the configured district's.
    district: str | None = Field(default=None, index=True)
    district_level: str | None = None


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
    address: str | None = None
    subject: str
    body: str
    source: str = Field(index=True)
    created_at: datetime = Field(sa_column=_tz())
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # 0014: a notification the webhook could not take (未送达), and why.
    failed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    failure: str | None = None


class AdminUnit(SQLModel, table=True):
    """The unit register: a city, its districts, their 街镇 (town) and the 村居 (village) under
    them. Data only (``yingji unit import``): no migration names a place. A name is unique under
    its parent (at the top of its district when it has none)."""

    __tablename__ = "admin_unit"
    __table_args__ = (
        CheckConstraint(
            "level IN ('city', 'district', 'town', 'village')", name="ck_admin_unit_level"
        ),
        Index(
            "ux_admin_unit_name_under_parent",
            "district",
            "parent_code",
            "name",
            unique=True,
            postgresql_where=text("parent_code IS NOT NULL"),
        ),
        Index(
            "ux_admin_unit_name_at_top",
            "district",
            "name",
            unique=True,
            postgresql_where=text("parent_code IS NULL"),
        ),
    )

    code: str = Field(primary_key=True, max_length=100)
    name: str
    level: str = Field(description="city | district | town | village")
    parent_code: str | None = Field(default=None, index=True, max_length=100)
    district: str = Field(index=True)


class TyphoonEventRow(SQLModel, table=True):
    __tablename__ = "typhoon_event"

    event_id: str = Field(primary_key=True, max_length=16)
    workflow_id: str
    year: int = Field(index=True)
    number: int
    name: str
    district: str = Field(index=True)
    status: str
    level: str
    warning: str
    opened_at: datetime = Field(sa_column=_tz())
    closed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_seq: int = _zero()
    #: typhoon | rainstorm | cold_wave (0018); another hazard's event has ``code`` and number 0.
    hazard: str = Field(
        default="typhoon", max_length=16, sa_column_kwargs={"server_default": "typhoon"}
    )
    code: str | None = Field(default=None, max_length=16)


class TyphoonTotals(SQLModel, table=True):
    """The live district totals of an event, written by the batch apply only.

    Kept apart from ``typhoon_event`` (which the intake share-locks) so that an apply never
    waits for the event row while holding report rows: that order would deadlock with an intake.
    """

    __tablename__ = "typhoon_totals"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    pre_evacuated: int = _zero()
    relocated: int = _zero()
    centralized: int = _zero()
    dispersed: int = _zero()
    returned: int = _zero()
    shelters_open: int = _zero()
    sheltered_now: int = _zero()
    units_reported: int = _zero()
    peak_sheltered: int = _zero()
    peak_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    batches_applied: int = _zero()


class TyphoonUnit(SQLModel, table=True):
    """The reporting units of one typhoon event (leaves of the district's registry)."""

    __tablename__ = "typhoon_unit"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    unit_code: str = Field(primary_key=True, max_length=100)
    town_code: str = Field(index=True, max_length=100)


class _FigureColumns(SQLModel):
    """The cumulative figures of a typhoon report (see models.typhoon.Figures)."""

    pre_evacuated: int
    relocated: int
    centralized: int
    dispersed: int
    returned: int
    shelters_open: int
    sheltered_now: int


class TyphoonReportRow(_FigureColumns, table=True):
    """Every report as received: the durable intake. Keyed by (event, report id)."""

    __tablename__ = "typhoon_report"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    report_id: str = Field(primary_key=True, max_length=128)
    arrival: int = Field(
        sa_column=Column(BigInteger, Identity(always=True), nullable=False, unique=True)
    )
    unit_code: str = Field(max_length=100)
    town_code: str = Field(max_length=100)
    as_of: datetime = Field(sa_column=_tz())
    reported_by: str
    corrects: str | None = None
    reason: str | None = None
    status: str
    received_at: datetime = Field(sa_column=_tz())
    applied_batch: int | None = None


class TyphoonUnitLatest(_FigureColumns, table=True):
    """Each unit's effective figures: its latest report by as-of time, then by arrival."""

    __tablename__ = "typhoon_unit_latest"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    unit_code: str = Field(primary_key=True, max_length=100)
    town_code: str = Field(index=True, max_length=100)
    report_id: str
    as_of: datetime = Field(sa_column=_tz())


class TyphoonLog(SQLModel, table=True):
    __tablename__ = "typhoon_log"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=_tz())
    kind: str
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


class ShelterRow(SQLModel, table=True):
    """The register of shelters (应急避难场所, 0018): each belongs to a 街镇 or 村居."""

    __tablename__ = "shelter"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=100)
    unit_code: str = Field(index=True, max_length=100)
    district: str = Field(index=True, max_length=64)
    type: str = Field(max_length=50)
    capacity: int
    address: str = Field(max_length=200)


class TyphoonShelter(SQLModel, table=True):
    """A shelter opened for an event (0018); ``closed_at`` set when it closes."""

    __tablename__ = "typhoon_shelter"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    shelter_code: str = Field(primary_key=True, max_length=32)
    unit_code: str = Field(max_length=100)
    town_code: str = Field(max_length=100)
    capacity: int
    opened_at: datetime = Field(sa_column=_tz())
    closed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ShelterReportRow(SQLModel, table=True):
    """Every shelter occupancy report as received: the durable intake (0018)."""

    __tablename__ = "shelter_report"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    report_id: str = Field(primary_key=True, max_length=128)
    arrival: int = Field(
        sa_column=Column(BigInteger, Identity(always=True), nullable=False, unique=True)
    )
    shelter_code: str = Field(max_length=32)
    as_of: datetime = Field(sa_column=_tz())
    occupancy: int
    reported_by: str
    corrects: str | None = None
    reason: str | None = None
    status: str
    received_at: datetime = Field(sa_column=_tz())
    applied_batch: int | None = None


class ShelterLatest(SQLModel, table=True):
    """Each shelter's effective occupancy: its latest report by as-of time, then arrival."""

    __tablename__ = "shelter_latest"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    shelter_code: str = Field(primary_key=True, max_length=32)
    report_id: str
    as_of: datetime = Field(sa_column=_tz())
    occupancy: int


class TyphoonRound(SQLModel, table=True):
    """A reporting round (0018): which reports count for it is fixed by the intake's arrival
    numbers when it opened, at its deadline, and when the next one opened."""

    __tablename__ = "typhoon_round"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    round_no: int = Field(primary_key=True)
    opened_at: datetime = Field(sa_column=_tz())
    due_at: datetime = Field(sa_column=_tz())
    opened_by: str
    open_arrival: int = Field(sa_column=Column(BigInteger, nullable=False))
    due_arrival: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class TyphoonInstruction(SQLModel, table=True):
    """An instruction to the 街镇 and how it is answered (0018), for the duty room."""

    __tablename__ = "typhoon_instruction"

    event_id: str = Field(primary_key=True, foreign_key="typhoon_event.event_id", max_length=16)
    instruction_id: str = Field(primary_key=True, max_length=8)
    text: str
    issued_at: datetime = Field(sa_column=_tz())
    due_at: datetime = Field(sa_column=_tz())
    towns: int
    answered: int
    overdue: list[str] = Field(sa_column=Column(JSONB, nullable=False))


Index(
    "ix_shelter_report_unapplied",
    ShelterReportRow.__table__.c.event_id,
    postgresql_where=text("applied_batch IS NULL"),
)
Index(
    "ix_shelter_report_latest",
    ShelterReportRow.__table__.c.event_id,
    ShelterReportRow.__table__.c.shelter_code,
    ShelterReportRow.__table__.c.as_of.desc(),
    ShelterReportRow.__table__.c.arrival.desc(),
)
Index(
    "ix_shelter_report_batch",
    ShelterReportRow.__table__.c.event_id,
    ShelterReportRow.__table__.c.applied_batch,
)
Index(
    "ix_typhoon_report_arrival",
    TyphoonReportRow.__table__.c.event_id,
    TyphoonReportRow.__table__.c.unit_code,
    TyphoonReportRow.__table__.c.arrival,
)


Index(
    "ix_typhoon_report_unapplied",
    TyphoonReportRow.__table__.c.event_id,
    postgresql_where=text("applied_batch IS NULL"),
)
Index(
    "ix_typhoon_report_unit_latest",
    TyphoonReportRow.__table__.c.event_id,
    TyphoonReportRow.__table__.c.unit_code,
    TyphoonReportRow.__table__.c.as_of.desc(),
    TyphoonReportRow.__table__.c.arrival.desc(),
)
Index(
    "ix_typhoon_report_batch",
    TyphoonReportRow.__table__.c.event_id,
    TyphoonReportRow.__table__.c.applied_batch,
)


class Officer(SQLModel, table=True):
    """A disaster information officer (灾害信息员): A (primary) or B (backup) of a unit.

    The roster keeps its history: a row holds from ``valid_from`` until ``valid_to`` (the first
    day it no longer holds; NULL: still holds). A change of phone, email or 在岗 closes the
    officer's row and opens another; see ``yingji.stores.officer``."""

    __tablename__ = "officer"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_officer_validity"),
    )

    unit_code: str = Field(primary_key=True, max_length=100)
    role: str = Field(primary_key=True, max_length=1, description="A | B")
    name: str = Field(primary_key=True)
    valid_from: date = Field(
        primary_key=True, sa_column_kwargs={"server_default": text("CURRENT_DATE")}
    )
    valid_to: date | None = None
    phone: str
    email: str | None = None
    active: bool = True
    updated_at: datetime = Field(sa_column=_tz())


class OfficerRosterDay(SQLModel, table=True):
    """A day on which a district's whole roster is known: the day of an officer import. A line
    of an earlier roster, loaded later, holds until the next such day at the latest."""

    __tablename__ = "officer_roster_day"

    district: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    imported_at: datetime = Field(sa_column=_tz())


class WarningRow(SQLModel, table=True):
    __tablename__ = "warning"

    warning_id: str = Field(primary_key=True, max_length=64)
    workflow_id: str
    title: str
    district: str = Field(index=True)
    issued_by: str
    issued_at: datetime = Field(sa_column=_tz())
    finished: bool
    targets: int
    answered: int
    not_reached: int
    call_response_rate: float
    last_seq: int


class WarningCall(SQLModel, table=True):
    __tablename__ = "warning_call"

    warning_id: str = Field(primary_key=True, foreign_key="warning.warning_id", max_length=64)
    person: str = Field(primary_key=True)
    unit: str
    phone: str
    backup: str | None = None
    status: str
    attempts: int
    first_call_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    acked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    acked_by: str | None = None
    response_seconds: float | None = None
    escalated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class WarningEventRow(SQLModel, table=True):
    __tablename__ = "warning_event"

    warning_id: str = Field(primary_key=True, foreign_key="warning.warning_id", max_length=64)
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=_tz())
    kind: str
    person: str | None = None
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


class DisasterRow(SQLModel, table=True):
    __tablename__ = "disaster"

    code: str = Field(primary_key=True, max_length=64)
    workflow_id: str
    name: str
    hazard: str
    district: str = Field(index=True)
    occurred_at: datetime = Field(sa_column=_tz())
    stable_on: date | None = None
    final_due: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    closed: bool
    latest: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    reports: int
    late_reports: int
    overdue_slots: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    last_seq: int
    #: The typhoon it is linked to (0019), if any.
    typhoon_event_id: str | None = Field(default=None, max_length=16)


class DisasterReportRow(SQLModel, table=True):
    __tablename__ = "disaster_report"

    disaster_code: str = Field(primary_key=True, foreign_key="disaster.code", max_length=64)
    report_id: str = Field(primary_key=True, max_length=100)
    kind: str
    slot: str
    as_of: datetime = Field(sa_column=_tz())
    submitted_at: datetime = Field(sa_column=_tz())
    late: bool
    status: str
    indicators: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    towns: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    reviewer: str | None = None
    review_reason: str = ""
    # 0012: the report's own words, written once (the workflow keeps only its latest reports').
    by: str = ""
    narrative: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    explanation: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    photos: int = 0
    relocation_from_typhoon: bool = False


class DisasterEventRow(SQLModel, table=True):
    __tablename__ = "disaster_event"

    disaster_code: str = Field(primary_key=True, foreign_key="disaster.code", max_length=64)
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=_tz())
    kind: str
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


class YearSummary(SQLModel, table=True):
    """One stored version of a year's summary per run (a retry of the run adds nothing)."""

    __tablename__ = "year_summary"

    district: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    version: int = Field(primary_key=True)
    run_key: str = Field(unique=True)
    title: str
    markdown: str
    figures: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    content_hash: str
    created_at: datetime = Field(sa_column=_tz())


class ConsoleToken(SQLModel, table=True):
    """A console token, kept only as its SHA-256 (``yingji token add`` shows the token once).
    A reporter's token lists the units they may report for; no other role's does. A revoked
    token is kept (who held it, and when) and refused."""

    __tablename__ = "console_token"
    __table_args__ = (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_console_token_sha256"),
        CheckConstraint(
            "role IN ('viewer', 'reporter', 'duty_officer', 'approver', 'admin')",
            name="ck_console_token_role",
        ),
        CheckConstraint(
            "(role = 'reporter') = (jsonb_array_length(units) BETWEEN 1 AND 200)",
            name="ck_console_token_units",
        ),
    )

    sha256: str = Field(primary_key=True, max_length=64)
    person: str = Field(index=True, max_length=100)
    role: str = Field(max_length=16)
    units: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    created_at: datetime = Field(sa_column=_tz())
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ResponsiblePersonRow(SQLModel, table=True):
    """A responsible person (防汛防台责任人) of a unit: for each unit and role, the people to call
    in ``order`` (1 first, 2 the backup, …). Apart from the officer roster; see
    ``yingji.stores.responsible``. ``district`` and ``level`` are the unit's, copied from the
    register at each import. (unit, role, order) is unique, checked at the end of each statement
    (deferrable) so that one import may swap two people's orders."""

    __tablename__ = "responsible_person"
    __table_args__ = (
        CheckConstraint('"order" BETWEEN 1 AND 9', name="ck_responsible_person_order"),
        CheckConstraint(
            "level IN ('city', 'district', 'town', 'village')",
            name="ck_responsible_person_level",
        ),
        UniqueConstraint(
            "unit_code",
            "role",
            "order",
            name="uq_responsible_person_unit_role_order",
            deferrable=True,
            initially="IMMEDIATE",
        ),
    )

    person_id: str = Field(primary_key=True, max_length=200)
    unit_code: str = Field(foreign_key="admin_unit.code", max_length=100)
    role: str = Field(max_length=50)
    name: str = Field(max_length=100)
    phone: str = Field(max_length=32)
    order: int
    district: str = Field(index=True)
    level: str = Field(max_length=16)
    updated_at: datetime = Field(sa_column=_tz())


class WarningChainRow(SQLModel, table=True):
    """One call chain of a fanned-out warning (0014), kept current by its batch."""

    __tablename__ = "warning_chain"
    __table_args__ = (Index("ix_warning_chain_batch", "warning_id", "batch_id"),)

    warning_id: str = Field(primary_key=True, max_length=64)
    chain_id: str = Field(primary_key=True, max_length=200)
    batch_id: str = Field(max_length=200)
    town_code: str
    town_name: str
    unit_code: str
    unit_name: str
    role: str
    persons: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(default="calling", sa_column_kwargs={"server_default": "calling"})
    current_person: str | None = None
    attempt: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    first_call_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    acked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    acked_by: str | None = None
    response_seconds: float | None = None
    undelivered: str | None = None
    #: Set when its batch ended (0016): an answer after it is too late.
    closed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class WarningBatchRow(SQLModel, table=True):
    """A batch of a fanned-out warning (0016): when it was last signalled of an answer."""

    __tablename__ = "warning_batch"

    warning_id: str = Field(primary_key=True, max_length=64)
    batch_id: str = Field(primary_key=True, max_length=200)
    signalled_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class WarningPersonRow(SQLModel, table=True):
    """A person a fanned-out warning calls (0014): where an answer goes."""

    __tablename__ = "warning_person"
    __table_args__ = (
        Index("ix_warning_person_phone", "warning_id", "phone"),
        Index("ix_warning_person_name", "warning_id", "name"),
    )

    warning_id: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(primary_key=True, max_length=200)
    chain_id: str = Field(max_length=200)
    batch_id: str = Field(max_length=200)
    name: str
    phone: str


class RequestKey(SQLModel, table=True):
    """A request id (Idempotency-Key, --request-id) and what it asked (0015)."""

    __tablename__ = "request_key"

    key: str = Field(primary_key=True, max_length=128)
    fingerprint: str = Field(max_length=64)
    target: str = Field(max_length=300)
    created_at: datetime = Field(sa_column=_tz())


class ClosedView(SQLModel, table=True):
    """The final view of a closed workflow run (0020), kept the first time it is read: later
    reads of that run are served from here, not by a query replaying its history."""

    __tablename__ = "closed_view"

    workflow_id: str = Field(primary_key=True, max_length=200)
    run_id: str = Field(primary_key=True, max_length=64)
    workflow_type: str = Field(max_length=64)
    view: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    closed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    kept_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
