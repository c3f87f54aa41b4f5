"""plan and drill jurisdiction

Plans and drills carry the jurisdiction (辖区) they belong to, so that a city bureau can count its
own plans and drills apart from its districts', and a district bureau only its own:

- ``plan.district`` and ``drill.district``: the district or city named when the plan or drill was
  created (by default the configured ``YINGJI_BUREAU_DISTRICT``), indexed;
- ``plan.district_level`` and ``drill.district_level``: ``city`` or ``district``, from the unit
  register when it knows the name, else the configured level for the configured district.

Both are nullable and nothing is backfilled: rows that exist before this revision keep NULL, and
the year-end figures count a NULL row as the configured district's (the bureau's own: for a city
bureau, the city's own), which is what every row was before plans and drills had a jurisdiction.
A workflow started before this revision projects NULL too; a new one never does.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 09:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("plan", "drill"):
        op.add_column(
            table, sa.Column("district", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        op.add_column(
            table, sa.Column("district_level", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        op.create_index(op.f(f"ix_{table}_district"), table, ["district"], unique=False)


def downgrade() -> None:
    for table in ("drill", "plan"):
        op.drop_index(op.f(f"ix_{table}_district"), table_name=table)
        op.drop_column(table, "district_level")
        op.drop_column(table, "district")
