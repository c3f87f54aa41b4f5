"""disaster typhoon link

A disaster process linked to a typhoon (``--typhoon``) keeps that link on its line, so the
year-end summary counts the process for that typhoon only (it matched processes to events by
hazard and time, and pinned one process on two typhoons).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("disaster", sa.Column("typhoon_event_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("disaster", "typhoon_event_id")
