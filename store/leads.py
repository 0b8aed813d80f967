"""The lead funnel's moves: each one changes her status and is kept as a row (lead_events)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from store.models import Contact, ContactStatus, LeadEvent, LeadSource


def became_lead(
    session: Session, contact: Contact, now: datetime, *, source: LeadSource, actor: str = ""
) -> LeadEvent:
    """A new contact: her first step, into 新线索."""
    contact.status = ContactStatus.NEW
    session.add(contact)
    session.flush()
    return _step(session, contact, "", ContactStatus.NEW, now, source, actor)


def change(
    session: Session,
    contact: Contact,
    to: ContactStatus,
    now: datetime,
    *,
    source: LeadSource,
    actor: str = "",
    reason: str | None = None,
    note: str = "",
    amount_cents: int | None = None,
) -> LeadEvent | None:
    """Move her to `to` and keep the step; None if she is there already and nothing is new
    (signed again with an amount, or lost for another reason, is a step)."""
    news = (to == ContactStatus.SIGNED and amount_cents is not None) or (
        to == ContactStatus.LOST and reason != contact.lost_reason
    )
    if contact.status == to and not news:
        return None
    step = _step(session, contact, contact.status, to, now, source, actor, reason, note,
                 amount_cents)  # fmt: skip
    contact.status = to
    if to == ContactStatus.LOST:
        contact.lost_reason, contact.lost_at = reason, now
    else:
        contact.lost_reason, contact.lost_at = None, None
    if to == ContactStatus.SIGNED:
        contact.signed_at = contact.signed_at or now
        if amount_cents is not None:
            contact.signed_amount_cents = amount_cents
    contact.updated_at = now
    session.add(contact)
    session.flush()
    return step


def _step(
    session: Session,
    contact: Contact,
    old: str,
    new: ContactStatus,
    now: datetime,
    source: LeadSource,
    actor: str,
    reason: str | None = None,
    note: str = "",
    amount_cents: int | None = None,
) -> LeadEvent:
    step = LeadEvent(
        contact_id=contact.id, at=now, actor=actor, source=source, from_status=old, to_status=new,
        reason=reason, note=note[:1000], amount_cents=amount_cents,
    )  # fmt: skip
    session.add(step)
    return step


def history(session: Session, contact_id: int) -> list[LeadEvent]:
    """Her steps, oldest first."""
    return list(
        session.exec(
            select(LeadEvent).where(LeadEvent.contact_id == contact_id).order_by(LeadEvent.id)
        )
    )
