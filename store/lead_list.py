"""Leads as a list: filtered, newest first, with what a list shows of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Row, and_, func, not_, or_, select

from store.models import Advisor, Contact

T = Contact.__table__


@dataclass(frozen=True)
class Filters:
    """What a lead must be to be listed; empty means any. Several values of one kind: any of
    them; different kinds: all of them."""

    statuses: frozenset[str] = frozenset()
    not_statuses: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()  # channel codes
    owners: frozenset[str] = frozenset()  # advisor userids
    cities: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()  # each in her name
    idle_since: datetime | None = None  # no follow-up since then (nor added since)
    due_by: date | None = None  # due on or before (and not before due_from)
    due_from: date | None = None
    min_score: int | None = None  # scored at least this
    tiers: frozenset[str] = frozenset()  # value tiers (高价值 …)


def where(filters: Filters):
    """The SQL condition for the filters."""
    parts = []
    if filters.statuses:
        parts.append(T.c.status.in_(sorted(filters.statuses)))
    if filters.not_statuses:
        parts.append(not_(T.c.status.in_(sorted(filters.not_statuses))))
    if filters.stages:
        parts.append(T.c.stage.in_(sorted(filters.stages)))
    if filters.channels:
        parts.append(T.c.channel_code.in_(sorted(filters.channels)))
    if filters.owners:
        parts.append(T.c.owner_userid.in_(sorted(filters.owners)))
    if filters.cities:
        parts.append(T.c.city.in_(sorted(filters.cities)))
    for word in filters.words:
        parts.append(T.c.name.contains(word, autoescape=True))
    if filters.idle_since is not None:
        last = func.coalesce(T.c.last_followup_at, T.c.added_at, T.c.created_at)
        parts.append(last < filters.idle_since)
    if filters.due_by is not None:
        parts.append(and_(T.c.due_date.is_not(None), T.c.due_date <= filters.due_by))
    if filters.due_from is not None:
        parts.append(T.c.due_date >= filters.due_from)
    if filters.min_score is not None:
        parts.append(T.c.score >= filters.min_score)
    if filters.tiers:
        parts.append(T.c.tier.in_(sorted(filters.tiers)))
    return and_(*parts) if parts else or_(True)


def listing(connection: Connection, filters: Filters, limit: int | None) -> list[Row]:
    """The leads that match, newest first (at most `limit`; None: all), with their advisor's
    cached name."""
    advisors = Advisor.__table__
    query = (
        select(
            T.c.id, T.c.name, T.c.phone, T.c.status, T.c.lost_reason, T.c.stage,
            T.c.channel_code, T.c.owner_userid, T.c.city, T.c.due_date, T.c.baby_birthday,
            T.c.added_at, T.c.created_at, T.c.last_followup_at, T.c.signed_amount_cents,
            T.c.source, T.c.score, T.c.tier, T.c.external_userid,
            advisors.c.name.label("owner_name"),
        )
        .select_from(T.outerjoin(advisors, advisors.c.userid == T.c.owner_userid))
        .where(where(filters))
        .order_by(T.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    return list(connection.execute(query))


def count(connection: Connection, filters: Filters) -> int:
    return connection.execute(
        select(func.count()).select_from(T).where(where(filters))
    ).scalar_one()


def cities(connection: Connection) -> set[str]:
    """Every city a lead has (to tell a city from other words in a query)."""
    return {row[0] for row in connection.execute(select(T.c.city).distinct()) if row[0]}
