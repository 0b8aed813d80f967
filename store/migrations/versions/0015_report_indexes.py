"""indexes for the managers' reports: what happened in a period, found by time

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_contacts_added_at", "contacts", ["added_at", "channel_code", "owner_userid"]),
    ("ix_contacts_stage_status", "contacts", ["stage", "status"]),
    ("ix_contacts_given_at", "contacts", [sa.text("coalesce(assigned_at, added_at)")]),
    ("ix_follow_ups_created_at", "follow_ups", ["created_at", "contact_id", "userid"]),
    ("ix_follow_ups_contact_created", "follow_ups", ["contact_id", "created_at"]),
    ("ix_sop_tasks_done", "sop_tasks", ["status", "sop_id", "updated_at"]),
    ("ix_lead_events_became", "lead_events", ["from_status", "at", "contact_id"]),
    ("ix_lead_events_moves", "lead_events", ["to_status", "at", "contact_id"]),
    ("ix_lead_events_contact_at", "lead_events", ["contact_id", "at", "to_status"]),
    ("ix_pool_events_at", "pool_events", ["at"]),
    ("ix_kf_messages_sent_at", "kf_messages", ["sent_at"]),
)


# indexes the ones above begin with, so make redundant
REPLACED = (
    ("ix_follow_ups_contact_id", "follow_ups", ["contact_id"]),
    ("ix_lead_events_contact_id", "lead_events", ["contact_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    for name, table, _ in REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns)
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
