"""The lead funnel's moves: each one changes her status and is kept as a row (lead_events)."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache

from sqlalchemy import Connection, Executable, Select, bindparam
from sqlmodel import Session, func, select

from store import db
from store.models import AssignCount, Contact, ContactStatus, LeadEvent, LeadSource


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


def assigned_on(
    connection: Connection, day: date, userids: list[str], rule: str | None = None
) -> dict[str, int]:
    """How many leads each advisor was assigned on a day (by one rule, or by any)."""
    query = _assigned_on(connection.dialect.name, rule is not None)
    bounds = {"day": day, "userids": userids, "rule": rule}
    return {userid: int(n) for userid, n in connection.execute(query, bounds)}


@cache
def _assigned_on(dialect: str, by_rule: bool) -> Select:
    """Made once (every assignment reads it)."""
    t = AssignCount.__table__
    query = select(t.c.userid, func.sum(t.c.assigned)).where(
        t.c.day == bindparam("day", type_=t.c.day.type), db.one_of(t.c.userid, "userids", dialect)
    )
    if by_rule:
        query = query.where(t.c.rule == bindparam("rule"))
    return query.group_by(t.c.userid)


def count_assigned(connection: Connection, day: date, given: dict[tuple[str, str], int]) -> None:
    """Add to the day's counts ((rule, advisor) → leads); the last statement of an assignment,
    so the rows stay locked for as short as can be."""
    if not given:
        return
    connection.execute(_counting(connection.dialect.name), [
        {"day": day, "rule": rule, "userid": userid, "assigned": n}
        for (rule, userid), n in sorted(given.items())
    ])  # fmt: skip


@cache
def _counting(dialect: str) -> Executable:
    """The counts' upsert, made once per dialect (every assignment runs it)."""
    t = AssignCount.__table__
    statement = db.insert_for(dialect, t)
    return statement.on_conflict_do_update(
        index_elements=["day", "rule", "userid"],
        set_={"assigned": t.c.assigned + statement.excluded.assigned},
    )


def open_leads(connection: Connection, userids: list[str]) -> dict[str, int]:
    """How many leads each advisor has that are neither signed nor lost."""
    t = Contact.__table__
    rows = connection.execute(
        select(t.c.owner_userid, func.count()).where(
            t.c.owner_userid.in_(userids), t.c.status.in_(OPEN)
        ).group_by(t.c.owner_userid)
    )  # fmt: skip
    return dict(rows.all())


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
