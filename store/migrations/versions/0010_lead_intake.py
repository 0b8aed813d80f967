"""leads from outside WeCom: identities, intakes, merges, assignment, the audit log

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _text(name: str, length: int, **kw) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), **kw)


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.alter_column("external_userid", existing_type=sqlmodel.sql.sqltypes.AutoString(
            length=64), nullable=True)  # fmt: skip
        batch_op.add_column(_text("source", 32, nullable=False, server_default=""))
        batch_op.add_column(sa.Column("assigned_at", store.types.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_contacts_assigned_at"), ["assigned_at"])
        batch_op.create_index(batch_op.f("ix_contacts_unionid"), ["unionid"])
    op.create_table(
        "lead_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        _text("kind", 16, nullable=False),
        _text("value", 128, nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_lead_identities", "lead_identities", ["kind", "value"], unique=True)
    op.create_index("ix_lead_identities_contact_id", "lead_identities", ["contact_id"])
    op.create_table(
        "lead_intakes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("at", store.types.UTCDateTime(), nullable=False),
        _text("via", 16, nullable=False),
        _text("source", 32, nullable=False),
        _text("outcome", 16, nullable=False),
        _text("idempotency_key", 255, nullable=True),
        _text("request_hash", 64, nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("conflicts", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_lead_intakes_contact_id", "lead_intakes", ["contact_id"])
    op.create_table(
        "contact_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gone_id", sa.Integer(), nullable=False),
        sa.Column("into_id", sa.Integer(), nullable=False),
        sa.Column("at", store.types.UTCDateTime(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["into_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gone_id"),
    )
    op.create_index("ix_contact_merges_into_id", "contact_merges", ["into_id"])
    op.create_table(
        "assign_counts",
        sa.Column("day", sa.Date(), nullable=False),
        _text("rule", 64, nullable=False),
        _text("userid", 64, nullable=False),
        sa.Column("assigned", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "rule", "userid"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", store.types.UTCDateTime(), nullable=False),
        _text("actor", 64, nullable=False),
        _text("action", 32, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("assign_counts")
    op.drop_table("contact_merges")
    op.drop_table("lead_intakes")
    op.drop_table("lead_identities")
    # leads without a WeCom customer cannot be kept by the old schema
    gone = "SELECT id FROM contacts WHERE external_userid IS NULL"
    for table in ("lead_events", "follow_ups", "stage_events", "contact_tags", "contact_follows"):
        op.execute(f"DELETE FROM {table} WHERE contact_id IN ({gone})")
    op.execute(f"DELETE FROM sop_tasks WHERE target IN (SELECT 'c:' || id FROM ({gone}) g)")
    op.execute("DELETE FROM contacts WHERE external_userid IS NULL")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_unionid"))
        batch_op.drop_index(batch_op.f("ix_contacts_assigned_at"))
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("source")
        batch_op.alter_column("external_userid", existing_type=sqlmodel.sql.sqltypes.AutoString(
            length=64), nullable=False)  # fmt: skip
