"""officer validity

The officer roster keeps its history: each row holds from ``valid_from`` until ``valid_to`` (the
first day it no longer holds; NULL: it still holds), so the year-end summary of a past year counts
the roster of that year, and ``officer list`` / ``gaps`` can show any day's roster. The primary
key becomes (unit_code, role, name, valid_from): one officer may have several rows over time.
A new table, ``officer_roster_day``, keeps the days on which a district's whole roster is known
(each import's day): a line of an earlier roster loaded later holds until the next of them.

Rows that exist before this revision carry no history. Each gets:

- ``valid_from`` = the day (Asia/Shanghai) of its ``updated_at``: the last import that wrote it,
  the earliest day the database knows the line held. Not a fixed early date: a roster of a past
  year loaded later (``yingji load``) closes the rows that held on its day and are not in it,
  and a row dated "since ever" would be closed by it although it is today's roster. The cost: a
  summary of a year before that day, rerun, counts none of these rows; load that year's roster
  with its ``valid_from`` to count it.
- ``valid_to`` = NULL for an active row; for an inactive one (离岗) the same day as
  ``valid_from``: it held on no day the database knows of, so it is on no day's roster (it is
  kept, not deleted).

The days of those rows (per district) become roster days: each was the day of an import.

New rows written by plain SQL without a ``valid_from`` start on the day they are written
(``CURRENT_DATE``).

Downgrading keeps, of each officer, the row that holds today (or else the latest), with
``active`` false when it no longer holds, and drops the columns and the roster days.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 09:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The row holds today.
HOLDS = "(valid_from <= CURRENT_DATE AND (valid_to IS NULL OR valid_to > CURRENT_DATE))"


def upgrade() -> None:
    op.add_column(
        "officer",
        sa.Column("valid_from", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False),
    )
    op.add_column("officer", sa.Column("valid_to", sa.Date(), nullable=True))
    op.execute(
        """
        UPDATE officer
        SET valid_from = (updated_at AT TIME ZONE 'Asia/Shanghai')::date,
            valid_to = CASE WHEN active THEN NULL
                            ELSE (updated_at AT TIME ZONE 'Asia/Shanghai')::date END
        """
    )
    op.drop_constraint("officer_pkey", "officer", type_="primary")
    op.create_primary_key("officer_pkey", "officer", ["unit_code", "role", "name", "valid_from"])
    op.create_check_constraint(
        "ck_officer_validity", "officer", "valid_to IS NULL OR valid_to >= valid_from"
    )
    op.create_table(
        "officer_roster_day",
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("district", "day"),
    )
    op.execute(
        """
        INSERT INTO officer_roster_day (district, day, imported_at)
        SELECT u.district, o.valid_from, max(o.updated_at)
        FROM officer o JOIN admin_unit u ON u.code = o.unit_code
        GROUP BY u.district, o.valid_from
        """
    )


def downgrade() -> None:
    op.drop_table("officer_roster_day")
    op.drop_constraint("ck_officer_validity", "officer", type_="check")
    op.execute(
        f"""
        DELETE FROM officer o USING (
            SELECT unit_code, role, name, valid_from,
                   row_number() OVER (
                       PARTITION BY unit_code, role, name
                       ORDER BY {HOLDS} DESC, valid_from DESC
                   ) AS n
            FROM officer
        ) ranked
        WHERE ranked.n > 1 AND (o.unit_code, o.role, o.name, o.valid_from)
            = (ranked.unit_code, ranked.role, ranked.name, ranked.valid_from)
        """
    )
    op.execute(f"UPDATE officer SET active = false WHERE NOT {HOLDS}")
    op.drop_constraint("officer_pkey", "officer", type_="primary")
    op.create_primary_key("officer_pkey", "officer", ["unit_code", "role", "name"])
    op.drop_column("officer", "valid_to")
    op.drop_column("officer", "valid_from")
