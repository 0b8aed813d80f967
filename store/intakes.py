"""What each intake of a lead brought (lead_intakes), found again by its Idempotency-Key."""

from __future__ import annotations

from sqlalchemy import Connection, Row, bindparam, select

from store.models import LeadIntake

T = LeadIntake.__table__

_BY_KEY = select(T.c.contact_id, T.c.outcome, T.c.request_hash).where(
    T.c.idempotency_key == bindparam("key")
)


def by_key(connection: Connection, key: str) -> Row | None:
    """The intake an API request with this Idempotency-Key made (its lead, its outcome and the
    hash of its body), or None. Made once: every request with a key asks."""
    return connection.execute(_BY_KEY, {"key": key}).first()
