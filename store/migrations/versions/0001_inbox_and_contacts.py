"""inbox and contacts

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("avatar", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("gender", sa.Integer(), nullable=False),
        sa.Column("unionid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("owner_userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel_code", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("lost_reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("added_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("lost_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_userid"),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contacts_channel_code"), ["channel_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contacts_owner_userid"), ["owner_userid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contacts_status"), ["status"], unique=False)

    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("msg_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("change_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("received_at", store.types.UTCDateTime(), nullable=False),
        sa.Column("enqueued_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("lease_until", store.types.UTCDateTime(), nullable=True),
        sa.Column("finished_at", store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_events_status_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_events_status_due")

    op.drop_table("inbound_events")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_status"))
        batch_op.drop_index(batch_op.f("ix_contacts_owner_userid"))
        batch_op.drop_index(batch_op.f("ix_contacts_channel_code"))

    op.drop_table("contacts")
