"""unit register

The register of administrative units becomes data: no migration names a place any more.

Before this revision, 0003 seeded twelve 街镇 on every install, each with its name as its code, at
the top of its district (no parent). This revision:

1. Deletes those seeded rows, recognised by their shape and never by a place name: ``code = name``,
   ``level = 'town'``, ``parent_code IS NULL``, and nothing refers to the code.
   It KEEPS such a row when anything refers to its code, because deleting it would leave records
   pointing at no unit: a typhoon report (``typhoon_report.unit_code`` / ``town_code``), a typhoon
   event's list of reporting units (``typhoon_unit``, ``typhoon_unit_latest``), an officer
   (``officer.unit_code``), a 叫应 call (``warning_call.unit``), a disaster report's breakdown by
   街镇 (``disaster_report.towns[*].town``), or a unit registered under it (``parent_code``).
   A kept row is an ordinary unit from now on; an operator may import the district's register
   (``yingji unit import``) beside it.
2. Allows the levels city | district | town | village (a CHECK constraint).
3. Makes a name unique under its parent, and at the top of its district for units without a
   parent (two partial unique indexes: PostgreSQL treats NULL parents as distinct). Units that
   already share a name there (a kept seeded row and the same 街镇 imported under a code, say)
   cannot all keep it: the one listed first keeps the name (rows whose code is not their name
   first, then by code), the others are renamed ``name（code）``, so no unit is lost and each is
   still found by its code.

Downgrading drops the constraint and the indexes; deleted rows are not restored (they held
nothing).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Every code some record refers to (the columns that hold a unit code).
REFERENCED = """
    SELECT unit_code FROM typhoon_report
    UNION SELECT town_code FROM typhoon_report
    UNION SELECT unit_code FROM typhoon_unit
    UNION SELECT town_code FROM typhoon_unit
    UNION SELECT unit_code FROM typhoon_unit_latest
    UNION SELECT town_code FROM typhoon_unit_latest
    UNION SELECT unit_code FROM officer
    UNION SELECT unit FROM warning_call
    UNION SELECT t ->> 'town'
        FROM disaster_report d
        CROSS JOIN LATERAL jsonb_array_elements(
            CASE WHEN jsonb_typeof(d.towns) = 'array' THEN d.towns ELSE '[]'::jsonb END) t
    UNION SELECT parent_code FROM admin_unit WHERE parent_code IS NOT NULL
"""


def upgrade() -> None:
    op.execute(
        f"""
        WITH referenced(code) AS ({REFERENCED})
        DELETE FROM admin_unit u
        WHERE u.code = u.name AND u.level = 'town' AND u.parent_code IS NULL
          AND NOT EXISTS (SELECT 1 FROM referenced r WHERE r.code = u.code)
        """
    )
    op.execute(
        """
        WITH ranked AS (
            SELECT code, row_number() OVER (
                PARTITION BY district, parent_code, name ORDER BY (code = name), code) AS n
            FROM admin_unit
        )
        UPDATE admin_unit u SET name = u.name || '（' || u.code || '）'
        FROM ranked r WHERE r.code = u.code AND r.n > 1
        """
    )
    op.create_check_constraint(
        "ck_admin_unit_level", "admin_unit", "level IN ('city', 'district', 'town', 'village')"
    )
    op.create_index(
        "ux_admin_unit_name_under_parent",
        "admin_unit",
        ["district", "parent_code", "name"],
        unique=True,
        postgresql_where=sa.text("parent_code IS NOT NULL"),
    )
    op.create_index(
        "ux_admin_unit_name_at_top",
        "admin_unit",
        ["district", "name"],
        unique=True,
        postgresql_where=sa.text("parent_code IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_admin_unit_name_at_top", table_name="admin_unit")
    op.drop_index("ux_admin_unit_name_under_parent", table_name="admin_unit")
    op.drop_constraint("ck_admin_unit_level", "admin_unit", type_="check")
