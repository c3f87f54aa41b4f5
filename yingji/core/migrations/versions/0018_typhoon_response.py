"""typhoon response, shelters, rounds, hazards

An event's hazard (``typhoon_event.hazard``: typhoon, rainstorm or cold_wave; another hazard's
event has its ``code`` and number 0); the register of shelters (``shelter``), the shelters an
event opened (``typhoon_shelter``), their occupancy reports and each shelter's latest
(``shelter_report``, ``shelter_latest``), reporting rounds (``typhoon_round``) and instructions to
the 街镇 (``typhoon_instruction``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _event_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["event_id"], ["typhoon_event.event_id"])


def upgrade() -> None:
    op.add_column(
        "typhoon_event",
        sa.Column("hazard", sa.String(length=16), server_default="typhoon", nullable=False),
    )
    op.add_column("typhoon_event", sa.Column("code", sa.String(length=16), nullable=True))
    op.create_table(
        "shelter",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit_code", sa.String(length=100), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(op.f("ix_shelter_district"), "shelter", ["district"], unique=False)
    op.create_index(op.f("ix_shelter_unit_code"), "shelter", ["unit_code"], unique=False)
    op.create_table(
        "typhoon_shelter",
        sa.Column("event_id", sa.String(length=16), nullable=False),
        sa.Column("shelter_code", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=100), nullable=False),
        sa.Column("town_code", sa.String(length=100), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        _event_fk(),
        sa.PrimaryKeyConstraint("event_id", "shelter_code"),
    )
    op.create_table(
        "shelter_report",
        sa.Column("event_id", sa.String(length=16), nullable=False),
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.Column("arrival", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("shelter_code", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occupancy", sa.Integer(), nullable=False),
        sa.Column("reported_by", sa.String(), nullable=False),
        sa.Column("corrects", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_batch", sa.Integer(), nullable=True),
        _event_fk(),
        sa.PrimaryKeyConstraint("event_id", "report_id"),
        sa.UniqueConstraint("arrival"),
    )
    op.create_index(
        "ix_shelter_report_unapplied",
        "shelter_report",
        ["event_id"],
        unique=False,
        postgresql_where=sa.text("applied_batch IS NULL"),
    )
    op.create_index(
        "ix_shelter_report_latest",
        "shelter_report",
        [
            "event_id",
            "shelter_code",
            sa.literal_column("as_of DESC"),
            sa.literal_column("arrival DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_shelter_report_batch", "shelter_report", ["event_id", "applied_batch"], unique=False
    )
    op.create_index(
        "ix_typhoon_report_arrival",
        "typhoon_report",
        ["event_id", "unit_code", "arrival"],
        unique=False,
    )
    op.create_table(
        "shelter_latest",
        sa.Column("event_id", sa.String(length=16), nullable=False),
        sa.Column("shelter_code", sa.String(length=32), nullable=False),
        sa.Column("report_id", sa.String(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occupancy", sa.Integer(), nullable=False),
        _event_fk(),
        sa.PrimaryKeyConstraint("event_id", "shelter_code"),
    )
    op.create_table(
        "typhoon_round",
        sa.Column("event_id", sa.String(length=16), nullable=False),
        sa.Column("round_no", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(), nullable=False),
        sa.Column("open_arrival", sa.BigInteger(), nullable=False),
        sa.Column("due_arrival", sa.BigInteger(), nullable=True),
        _event_fk(),
        sa.PrimaryKeyConstraint("event_id", "round_no"),
    )
    op.create_table(
        "typhoon_instruction",
        sa.Column("event_id", sa.String(length=16), nullable=False),
        sa.Column("instruction_id", sa.String(length=8), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("towns", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("overdue", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _event_fk(),
        sa.PrimaryKeyConstraint("event_id", "instruction_id"),
    )


def downgrade() -> None:
    op.drop_table("typhoon_instruction")
    op.drop_table("typhoon_round")
    op.drop_table("shelter_latest")
    op.drop_index("ix_typhoon_report_arrival", table_name="typhoon_report")
    op.drop_index("ix_shelter_report_batch", table_name="shelter_report")
    op.drop_index("ix_shelter_report_latest", table_name="shelter_report")
    op.drop_index(
        "ix_shelter_report_unapplied",
        table_name="shelter_report",
        postgresql_where=sa.text("applied_batch IS NULL"),
    )
    op.drop_table("shelter_report")
    op.drop_table("typhoon_shelter")
    op.drop_index(op.f("ix_shelter_unit_code"), table_name="shelter")
    op.drop_index(op.f("ix_shelter_district"), table_name="shelter")
    op.drop_table("shelter")
    op.drop_column("typhoon_event", "code")
    op.drop_column("typhoon_event", "hazard")
