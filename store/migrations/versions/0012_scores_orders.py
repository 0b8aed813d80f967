"""lead scores, the date she told the bot, orders and value tiers

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("told_dates_at", store.types.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("score", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(
            sa.Column("tier", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch.add_column(sa.Column("tier_since", sa.Date(), nullable=True))
        batch.create_index("ix_contacts_score", ["score"])
        batch.create_index("ix_contacts_tier", ["tier"])
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("ordered_at", store.types.UTCDateTime(), nullable=False),
        sa.Column("items", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id"),
    )
    op.create_index("ix_orders_ordered_at", "orders", ["ordered_at"])
    op.create_index("ix_orders_contact_id_ordered_at", "orders", ["contact_id", "ordered_at"])


def downgrade() -> None:
    op.drop_table("orders")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ix_contacts_tier")
        batch.drop_index("ix_contacts_score")
        for column in ("tier_since", "tier", "score", "told_dates_at"):
            batch.drop_column(column)
