"""sop tasks

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sop_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("trigger_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("due_at", store.types.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sop_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_sop_tasks_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sop_tasks_sop_id"), ["sop_id"], unique=False)
        batch_op.create_index("ix_sop_tasks_target", ["target", "status"], unique=False)
        batch_op.create_index(
            "ux_sop_tasks_once", ["sop_id", "step_id", "target", "trigger_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("sop_tasks", schema=None) as batch_op:
        batch_op.drop_index("ux_sop_tasks_once")
        batch_op.drop_index("ix_sop_tasks_target")
        batch_op.drop_index(batch_op.f("ix_sop_tasks_sop_id"))
        batch_op.drop_index("ix_sop_tasks_due")

    op.drop_table("sop_tasks")
