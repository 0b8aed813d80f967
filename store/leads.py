"""The lead funnel's moves: each one changes her status and is kept as a row (lead_events)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update
from sqlmodel import Session, func, select

from store import db
from store.models import AssignTurn, Contact, ContactStatus, LeadEvent, LeadSource


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


OPEN = (ContactStatus.NEW, ContactStatus.CONTACTED, ContactStatus.INTERESTED)


def assigned_since(connection: Connection, userids: list[str], since: datetime) -> dict[str, int]:
    """How many leads each advisor was assigned from `since` on."""
    t = Contact.__table__
    rows = connection.execute(
        select(t.c.owner_userid, func.count()).where(
            t.c.owner_userid.in_(userids), t.c.assigned_at >= since
        ).group_by(t.c.owner_userid)
    )  # fmt: skip
    return dict(rows.all())


def open_leads(connection: Connection, userids: list[str]) -> dict[str, int]:
    """How many leads each advisor has that are neither signed nor lost."""
    t = Contact.__table__
    rows = connection.execute(
        select(t.c.owner_userid, func.count()).where(
            t.c.owner_userid.in_(userids), t.c.status.in_(OPEN)
        ).group_by(t.c.owner_userid)
    )  # fmt: skip
    return dict(rows.all())


def turn(connection: Connection, rule: str) -> int:
    """Whose turn it is in a round-robin rule (an index into its advisors, not yet wrapped);
    the row stays locked for this transaction, so two assignments at once take turns."""
    t = AssignTurn.__table__
    connection.execute(
        db.insert(connection, t).on_conflict_do_nothing(), [{"rule": rule, "turn": 0}]
    )
    return connection.execute(
        update(t).where(t.c.rule == rule).values(turn=t.c.turn).returning(t.c.turn)
    ).scalar_one()


def set_turn(connection: Connection, rule: str, value: int) -> None:
    t = AssignTurn.__table__
    connection.execute(update(t).where(t.c.rule == rule).values(turn=value))


def assign(session: Session, contact: Contact, userid: str, now: datetime, note: str) -> LeadEvent:
    """Give her to an advisor; kept in her history as a step that leaves her status as is."""
    contact.owner_userid, contact.assigned_at, contact.pooled_at = userid, now, None
    contact.updated_at = now
    session.add(contact)
    session.flush()
    return remark(session, contact, now, LeadSource.RULE, note)


def remark(
    session: Session, contact: Contact, now: datetime, source: LeadSource, note: str,
    actor: str = "",
) -> LeadEvent:  # fmt: skip
    """A step in her history that leaves her status as it is (assigned, merged)."""
    return _step(session, contact, contact.status, ContactStatus(contact.status), now, source,
                 actor, note=note)  # fmt: skip
