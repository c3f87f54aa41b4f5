"""warning answers

An answer to 叫应 is written to its chain's row first (once: only while the chain has no answer
and its batch is still open), then told to the batch. ``closed_at`` marks a chain whose batch
has ended: an answer after it is too late. ``warning_batch`` keeps when each batch was last
signalled: while answers flow, a batch is told at most once a second and reads its rows.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 17:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "warning_chain", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "warning_batch",
        sa.Column("warning_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column("signalled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("warning_id", "batch_id"),
    )


def downgrade() -> None:
    op.drop_table("warning_batch")
    op.drop_column("warning_chain", "closed_at")
