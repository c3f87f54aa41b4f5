"""plan short name

A plan's 简称 (``short_name``, e.g. 地震): the topic by which the year-end summary names it in a
list of revisions ("启动地震、处置危险化学品……等专项应急预案修订"). Optional; a plan without one
is named by its title with the jurisdiction and "应急预案" taken off.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 18:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "plan", sa.Column("short_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("plan", "short_name")
