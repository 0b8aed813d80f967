"""stages

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stage_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("previous", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stage_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stage_events_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_stage_events_stage"), ["stage"], unique=False)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_since", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("stage_tag_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("baby_birthday", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("trying_to_conceive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(batch_op.f("ix_contacts_stage"), ["stage"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_stage"))
        batch_op.drop_column("trying_to_conceive")
        batch_op.drop_column("baby_birthday")
        batch_op.drop_column("due_date")
        batch_op.drop_column("stage_tag_id")
        batch_op.drop_column("stage_since")

    with op.batch_alter_table("stage_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stage_events_stage"))
        batch_op.drop_index(batch_op.f("ix_stage_events_contact_id"))

    op.drop_table("stage_events")
