"""SOP tasks keep their mass send's msgid and where it got to (the advisor confirmed it, or not)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sop_tasks") as batch:
        batch.add_column(sa.Column("msgid", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("mass_result", sa.String(length=16), nullable=True))
        batch.create_index("ix_sop_tasks_msgid", ["msgid"])


def downgrade() -> None:
    with op.batch_alter_table("sop_tasks") as batch:
        batch.drop_index("ix_sop_tasks_msgid")
        batch.drop_column("mass_result")
        batch.drop_column("msgid")
