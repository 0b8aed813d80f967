"""Leads given to advisors that they have not been told of yet (lead_notices): written with
the assignment, turned into one event per advisor by the relay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from store import db
from store.models import LeadNotice

T = LeadNotice.__table__

_ADD = insert(T)
_WAITING = select(T.c.id, T.c.userid, T.c.contact_id).order_by(T.c.id)


def add(connection: Connection, given: Mapping[str, Sequence[int]], now: datetime) -> None:
    """Notices of the leads given to each advisor (userid → lead ids), in one statement."""
    rows = [{"userid": userid, "contact_id": i, "created_at": now}
            for userid, contact_ids in given.items() for i in contact_ids]  # fmt: skip
    if rows:
        connection.execute(_ADD, rows)


def waiting(connection: Connection) -> dict[str, list[tuple[int, int]]]:
    """Each advisor's waiting notices, (notice id, lead id), oldest first."""
    found: dict[str, list[tuple[int, int]]] = {}
    for row in connection.execute(_WAITING):
        found.setdefault(row.userid, []).append((row.id, row.contact_id))
    return found


def drop(connection: Connection, ids: Sequence[int]) -> None:
    for part in db.parts(ids):
        connection.execute(delete(T).where(T.c.id.in_(part)))
