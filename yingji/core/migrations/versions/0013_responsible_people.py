"""responsible people

The register of responsible people (防汛防台责任人), apart from the officer roster: for each
unit of the register and each role (free text: 党政主要负责人, 分管负责人, 村(社区)负责人,
区级责任人, …), the people a warning's 叫应 calls, in ``order`` (1 first, 2 the backup, up to 9).

``responsible_person``: ``person_id`` (the key, ``{unit_code}:{role}:{phone}``), ``unit_code``
(a unit of ``admin_unit``), ``role`` (≤50), ``name`` (≤100), ``phone`` (≤32, normalized: digits
and an optional leading +), ``order`` (1..9), ``district`` and ``level`` (the unit's, copied
from the register at import), ``updated_at``. (unit_code, role, order) is unique: two people
cannot both be first for the same unit and role. The constraint is deferrable, checked at the
end of each statement, so that one import may swap two people's orders.

Nothing is copied from elsewhere: the register is filled by ``yingji responsible import``.
Downgrading drops the table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "responsible_person",
        sa.Column("person_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("unit_code", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('"order" BETWEEN 1 AND 9', name="ck_responsible_person_order"),
        sa.CheckConstraint(
            "level IN ('city', 'district', 'town', 'village')",
            name="ck_responsible_person_level",
        ),
        sa.ForeignKeyConstraint(["unit_code"], ["admin_unit.code"]),
        sa.PrimaryKeyConstraint("person_id"),
        sa.UniqueConstraint(
            "unit_code",
            "role",
            "order",
            name="uq_responsible_person_unit_role_order",
            deferrable=True,
            initially="IMMEDIATE",
        ),
    )
    op.create_index(
        op.f("ix_responsible_person_district"), "responsible_person", ["district"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_responsible_person_district"), table_name="responsible_person")
    op.drop_table("responsible_person")
