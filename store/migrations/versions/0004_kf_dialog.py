"""kf dialog

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dialogs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("open_kfid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("pending_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("pending_date", sa.Date(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_customer_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("replies_in_window", sa.Integer(), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_userid"),
    )
    op.create_table(
        "kf_cursors",
        sa.Column("open_kfid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cursor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("open_kfid"),
    )
    op.create_table(
        "kf_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("msgid", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("external_userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("origin", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("msgid"),
    )
    with op.batch_alter_table("kf_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kf_messages_external_userid"), ["external_userid"], unique=False
        )

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opted_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("opted_out")

    with op.batch_alter_table("kf_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kf_messages_external_userid"))

    op.drop_table("kf_messages")
    op.drop_table("kf_cursors")
    op.drop_table("dialogs")
