"""The public pool's (公海) history: who released a lead and why, who claimed her."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, func, select
from sqlmodel import Session

from store import leads
from store.models import Contact, LeadSource, PoolEvent

POOLED, CLAIMED = "pooled", "claimed"


def put(
    session: Session, contact: Contact, now: datetime, reason: str, *, by: str = "",
    source: LeadSource = LeadSource.RULE, note: str = "",
) -> None:  # fmt: skip
    """She is in the pool from now, and why; `by`: who let her go (her advisor; "" for
    mombot's rules). Kept in the pool's history and in hers."""
    contact.pooled_at, contact.updated_at = now, now
    session.add(contact)
    session.add(PoolEvent(contact_id=contact.id, at=now, kind=POOLED, userid=by, reason=reason))
    leads.remark(session, contact, now, source,
                 f"进入公海：{reason}" + (f"（{note}）" if note else ""), actor=by)  # fmt: skip


def claimed(session: Session, contact_id: int, userid: str, now: datetime) -> None:
    session.add(PoolEvent(contact_id=contact_id, at=now, kind=CLAIMED, userid=userid))


def claims_since(connection: Connection, userid: str, since: datetime) -> int:
    t = PoolEvent.__table__
    return connection.execute(
        select(func.count()).where(t.c.userid == userid, t.c.kind == CLAIMED, t.c.at >= since)
    ).scalar_one()


def released_by(connection: Connection, contact_id: int, userid: str) -> datetime | None:
    """When this advisor last let her go to the pool (gave her up, or let her time out)."""
    t = PoolEvent.__table__
    return connection.execute(
        select(func.max(t.c.at)).where(t.c.contact_id == contact_id, t.c.userid == userid,
                                       t.c.kind == POOLED)
    ).scalar()  # fmt: skip


def waiting(connection: Connection, limit: int) -> list[Row]:
    """(id, name, stage) of the leads in the pool, the longest waiting first."""
    t = Contact.__table__
    return list(connection.execute(
        select(t.c.id, t.c.name, t.c.stage).where(t.c.pooled_at.is_not(None))
        .order_by(t.c.pooled_at, t.c.id).limit(limit)
    ))  # fmt: skip
