"""the public pool's history: why each lead went in, who claimed her

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pool_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("at", store.types.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pool_events_contact_id", "pool_events", ["contact_id"])
    op.create_index("ix_pool_events_userid_kind_at", "pool_events", ["userid", "kind", "at"])


def downgrade() -> None:
    op.drop_table("pool_events")
