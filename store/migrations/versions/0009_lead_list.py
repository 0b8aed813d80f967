"""what a leads list shows and filters on: phone, city, the latest follow-up

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20),
                                      nullable=False, server_default=""))  # fmt: skip
        batch_op.add_column(sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=False, server_default=""))  # fmt: skip
        batch_op.add_column(sa.Column("last_followup_at", store.types.UTCDateTime(),
                                      nullable=True))  # fmt: skip
        batch_op.create_index(batch_op.f("ix_contacts_phone"), ["phone"])
        batch_op.create_index(batch_op.f("ix_contacts_city"), ["city"])
        batch_op.create_index(batch_op.f("ix_contacts_last_followup_at"), ["last_followup_at"])
    op.execute(
        "UPDATE contacts SET last_followup_at = (SELECT max(f.created_at) FROM follow_ups f"
        " WHERE f.contact_id = contacts.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_last_followup_at"))
        batch_op.drop_index(batch_op.f("ix_contacts_city"))
        batch_op.drop_index(batch_op.f("ix_contacts_phone"))
        batch_op.drop_column("last_followup_at")
        batch_op.drop_column("city")
        batch_op.drop_column("phone")
