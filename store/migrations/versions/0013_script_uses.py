"""scripts (话术) advisors put into chats from the sidebar

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "script_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("script_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_script_uses_script_id", "script_uses", ["script_id"])
    op.create_index("ix_script_uses_at", "script_uses", ["at"])


def downgrade() -> None:
    op.drop_table("script_uses")
