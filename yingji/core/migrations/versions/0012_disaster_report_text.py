"""disaster report text

A disaster report's own words — who sent it, its narrative, its explanation of a jump in the
figures, how many photos came with it, whether its relocation figures came from the typhoon
tally — were kept only in the workflow's state. The workflow now keeps the text of its latest
reports only (a long process would otherwise carry every report's text through each
continue-as-new), so the projection writes them here, once per report.

Rows written before this revision get empty text (their workflows still hold it and write it
with the next change of the report, if any).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = (
    sa.Column("by", sa.String(), nullable=False, server_default=""),
    sa.Column("narrative", sa.Text(), nullable=False, server_default=""),
    sa.Column("explanation", sa.Text(), nullable=False, server_default=""),
    sa.Column("photos", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("relocation_from_typhoon", sa.Boolean(), nullable=False, server_default="false"),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("disaster_report", column)


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_column("disaster_report", column.name)
