"""closed views

The final view of a workflow that has closed, kept the first time it is read (by workflow id
and run id), so a closed plan's, drill's, disaster process's or 叫应's detail is served from
PostgreSQL instead of a query that replays the workflow's whole history.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-09 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closed_view",
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_type", sa.String(length=64), nullable=False),
        sa.Column("view", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "kept_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("workflow_id", "run_id"),
    )


def downgrade() -> None:
    op.drop_table("closed_view")
