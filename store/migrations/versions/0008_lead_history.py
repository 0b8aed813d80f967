"""lead history (lead_events); signed amount and time; lost reasons in words

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# lost reasons as mombot wrote them before, and as advisors read them now
REASONS = {"customer_deleted": "客户删除", "advisor_deleted": "顾问删除"}


def upgrade() -> None:
    op.create_table(
        "lead_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("at", store.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("from_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("to_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lead_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_events_contact_id"), ["contact_id"])
        batch_op.create_index(batch_op.f("ix_lead_events_at"), ["at"])
        batch_op.create_index(batch_op.f("ix_lead_events_to_status"), ["to_status"])
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signed_at", store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("signed_amount_cents", sa.Integer(), nullable=True))
    contacts = sa.table("contacts", sa.column("lost_reason", sa.String))
    for old, new in REASONS.items():
        op.execute(contacts.update().where(contacts.c.lost_reason == old).values(lost_reason=new))


def downgrade() -> None:
    contacts = sa.table("contacts", sa.column("lost_reason", sa.String))
    for old, new in REASONS.items():
        op.execute(contacts.update().where(contacts.c.lost_reason == new).values(lost_reason=old))
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("signed_amount_cents")
        batch_op.drop_column("signed_at")
    op.drop_table("lead_events")
