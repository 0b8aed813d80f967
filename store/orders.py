"""Orders (once per order id) and what value tiers are counted from: each buyer's last order,
and her orders and spending within a window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import Connection, Row, Select, bindparam, case, func, select

from store import db
from store.db import insert
from store.models import Contact, Order

T = Order.__table__


def existing(connection: Connection, order_ids: Sequence[str]) -> dict[str, Row]:
    """The orders already kept, by order id."""
    found: dict[str, Row] = {}
    for chunk in db.parts(order_ids):
        query = select(T.c.order_id, T.c.contact_id, T.c.amount_cents, T.c.ordered_at).where(
            T.c.order_id.in_(chunk)
        )
        found |= {row.order_id: row for row in connection.execute(query)}
    return found


def add(connection: Connection, rows: list[dict]) -> set[str]:
    """Keep these orders; one whose id is kept already (a concurrent import) is left as it is.
    Returns the order ids written now."""
    if not rows:
        return set()
    statement = (
        insert(connection, T).on_conflict_do_nothing(index_elements=["order_id"])
        .returning(T.c.order_id)
    )  # fmt: skip
    return set(connection.execute(statement, rows).scalars().all())


@dataclass(frozen=True)
class Spending:
    contact_id: int
    tier: str | None  # as counted last time
    last_at: datetime
    orders: int  # within the window
    cents: int  # within the window


def spending(
    connection: Connection, since: datetime, contact_ids: Sequence[int] | None = None
) -> list[Spending]:
    """Each buyer's last order, and her orders and spending since `since`: of these contacts,
    or (None) of every buyer."""
    query = _spending("" if contact_ids is None else connection.dialect.name)
    scopes = [{}] if contact_ids is None else [
        {"ids": list(contact_ids[i : i + 900])} for i in range(0, len(contact_ids), 900)
    ]  # fmt: skip
    found = []
    for scope in scopes:
        found += [Spending(row[0], row[1], row[2], int(row[3] or 0), int(row[4] or 0))
                  for row in connection.execute(query, {"since": since, **scope})]  # fmt: skip
    return found


@cache
def _spending(dialect: str) -> Select:
    """The spending query, made once per dialect (an order's buyer is counted as each order
    comes); "": of every buyer."""
    recent = T.c.ordered_at >= bindparam("since", type_=T.c.ordered_at.type)
    c = Contact.__table__
    query = (
        select(
            T.c.contact_id, c.c.tier, func.max(T.c.ordered_at),
            func.sum(case((recent, 1), else_=0)),
            func.sum(case((recent, T.c.amount_cents), else_=0)),
        )
        .select_from(T.join(c, c.c.id == T.c.contact_id))
        .group_by(T.c.contact_id, c.c.tier)
    )  # fmt: skip
    return query.where(db.one_of(T.c.contact_id, "ids", dialect)) if dialect else query


def save_tiers(connection: Connection, tiers: dict[int, str | None], day: date) -> None:
    """Her new tier, since `day`."""
    if not tiers:
        return
    c = Contact.__table__
    statement = (
        c.update().where(c.c.id == bindparam("key")).values(tier=bindparam("value"), tier_since=day)
    )
    connection.execute(statement, [{"key": k, "value": v} for k, v in tiers.items()])


def of(connection: Connection, contact_id: int, limit: int = 20) -> list[Row]:
    """Her latest orders, newest first."""
    return list(connection.execute(
        select(T.c.order_id, T.c.amount_cents, T.c.ordered_at, T.c["items"], T.c.source)
        .where(T.c.contact_id == contact_id).order_by(T.c.ordered_at.desc()).limit(limit)
    ))  # fmt: skip
