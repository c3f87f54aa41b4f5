"""warning answers

An answer to 叫应 is written to its chain's row first (once: only while the chain has no answer
and its batch is still open), then told to the batch. ``closed_at`` marks a chain whose batch
has ended: an answer after it is too late.

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


def downgrade() -> None:
    op.drop_column("warning_chain", "closed_at")
