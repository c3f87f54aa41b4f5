"""console tokens

Console tokens become named callers kept in the database: ``console_token`` holds, for each
token, only its SHA-256 (lowercase hex, the primary key), the person it names, their role
(viewer | reporter | duty_officer | approver | admin), for a reporter the units they may report
for (a JSON list of unit codes or names, 1 to 200; every other role has none), when it was
created and when it was revoked (NULL: it still works). The token itself is shown once by
``yingji token add`` and never stored.

Nothing is copied: tokens configured in settings (``YINGJI_CONSOLE_TOKENS``) stay there, now as
SHA-256 → person, role and units.

Downgrading drops the table (and with it every token issued through it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 09:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_token",
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("person", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "units",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_console_token_sha256"),
        sa.CheckConstraint(
            "role IN ('viewer', 'reporter', 'duty_officer', 'approver', 'admin')",
            name="ck_console_token_role",
        ),
        sa.CheckConstraint(
            "(role = 'reporter') = (jsonb_array_length(units) BETWEEN 1 AND 200)",
            name="ck_console_token_units",
        ),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index(op.f("ix_console_token_person"), "console_token", ["person"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_console_token_person"), table_name="console_token")
    op.drop_table("console_token")
