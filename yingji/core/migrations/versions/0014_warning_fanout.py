"""warning fan-out

叫应 at a city's scale. A warning's call chains (one unit's responsible people for one role, in
calling order) are written down when it is issued, so its batches — one child workflow each —
read their own, an answer is routed to the batch that holds its person, and the board counts
from here:

- ``warning_chain``: one row per chain, kept current by its batch (status, who is being called,
  attempt, first call, answer, response time, why its last call was not delivered);
- ``warning_person``: one row per person of a warning, to route an answer by id, phone or name.

The notification outbox gains ``failed_at`` and ``failure``: a notification the webhook could not
take (未送达), with why.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "warning_chain",
        sa.Column("warning_id", sa.String(length=64), nullable=False),
        sa.Column("chain_id", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column("town_code", sa.String(), nullable=False),
        sa.Column("town_name", sa.String(), nullable=False),
        sa.Column("unit_code", sa.String(), nullable=False),
        sa.Column("unit_name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("persons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="calling"),
        sa.Column("current_person", sa.String(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_call_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.String(), nullable=True),
        sa.Column("response_seconds", sa.Float(), nullable=True),
        sa.Column("undelivered", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("warning_id", "chain_id"),
    )
    op.create_index("ix_warning_chain_batch", "warning_chain", ["warning_id", "batch_id"])
    op.create_table(
        "warning_person",
        sa.Column("warning_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("chain_id", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("phone", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("warning_id", "person_id"),
    )
    op.create_index("ix_warning_person_phone", "warning_person", ["warning_id", "phone"])
    op.create_index("ix_warning_person_name", "warning_person", ["warning_id", "name"])
    op.add_column("notification", sa.Column("failed_at", sa.DateTime(timezone=True)))
    op.add_column("notification", sa.Column("failure", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("notification", "failure")
    op.drop_column("notification", "failed_at")
    op.drop_index("ix_warning_person_name", table_name="warning_person")
    op.drop_index("ix_warning_person_phone", table_name="warning_person")
    op.drop_table("warning_person")
    op.drop_index("ix_warning_chain_batch", table_name="warning_chain")
    op.drop_table("warning_chain")
