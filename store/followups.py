"""Advisors' logged follow-ups (跟进记录), and the public pool (公海) of leads to claim."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from store import leads
from store.models import Contact, ContactStatus, FollowUp, LeadSource


def log(
    session: Session, contact: Contact, userid: str, note: str, now: datetime,
    source: LeadSource = LeadSource.APP,
) -> FollowUp:  # fmt: skip
    """Record a follow-up (from the app chat, or the sidebar); a new lead becomes 已沟通 and
    leaves the public pool."""
    entry = FollowUp(contact_id=contact.id, userid=userid, note=note[:1000], created_at=now)
    session.add(entry)
    if contact.status == ContactStatus.NEW:
        leads.change(session, contact, ContactStatus.CONTACTED, now, source=source,
                     actor=userid, note=note)  # fmt: skip
    contact.pooled_at, contact.updated_at, contact.last_followup_at = None, now, now
    session.add(contact)
    session.flush()
    return entry


def logged_since(session: Session, contact_id: int, moment: datetime) -> bool:
    return (
        session.exec(
            select(FollowUp.id).where(
                FollowUp.contact_id == contact_id, FollowUp.created_at >= moment
            )
        ).first()
        is not None
    )


def claim(session: Session, contact_id: int, userid: str, now: datetime) -> bool:
    """Take a pooled lead; True for the one advisor who got her, however many tried at once.
    Her advisor until then is kept as handover_userid: she has her in WeCom until the transfer
    completes."""
    table = Contact.__table__
    taken = session.connection().execute(
        update(table)
        .where(table.c.id == contact_id, table.c.pooled_at.is_not(None))
        .values(handover_userid=table.c.owner_userid, owner_userid=userid, pooled_at=None,
                updated_at=now)
        .returning(table.c.id)
    ).first()  # fmt: skip
    return taken is not None
