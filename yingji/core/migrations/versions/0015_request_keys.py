"""request keys

Each console ``Idempotency-Key`` and CLI ``--request-id`` is remembered with a fingerprint of
what it asked (the workflow, the action and the input, without who sent it): the same key sent
again with the same request answers as the first time; sent with another request it is refused
(422) instead of silently answering the first one.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 16:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_key",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("request_key")
