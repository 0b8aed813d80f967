"""groups tags follow-ups

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("owner_userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("dismissed", sa.Boolean(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("created_in_wecom", store.types.UTCDateTime(), nullable=True),
        sa.Column("synced_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id"),
    )
    with op.batch_alter_table("customer_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_groups_owner_userid"), ["owner_userid"], unique=False
        )

    op.create_table(
        "group_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("join_scene", sa.Integer(), nullable=False),
        sa.Column("joined_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("left_at", store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index("ux_group_members", ["chat_id", "member_id"], unique=True)

    op.create_table(
        "contact_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("group_name", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("added_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_tags_name"), ["name"], unique=False)
        batch_op.create_index("ux_contact_tags", ["contact_id", "tag_id"], unique=True)

    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_ups_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_follow_ups_userid"), ["userid"], unique=False)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pooled_at", store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("handover_userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("tags_read_at", store.types.UTCDateTime(), nullable=True))

    with op.batch_alter_table("sop_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trigger_at", store.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sop_tasks", schema=None) as batch_op:
        batch_op.drop_column("trigger_at")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("tags_read_at")
        batch_op.drop_column("handover_userid")
        batch_op.drop_column("pooled_at")

    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_userid"))
        batch_op.drop_index(batch_op.f("ix_follow_ups_contact_id"))

    op.drop_table("follow_ups")
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.drop_index("ux_contact_tags")
        batch_op.drop_index(batch_op.f("ix_contact_tags_name"))

    op.drop_table("contact_tags")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index("ux_group_members")

    op.drop_table("group_members")
    with op.batch_alter_table("customer_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_groups_owner_userid"))

    op.drop_table("customer_groups")
