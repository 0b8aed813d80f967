"""What each intake of a lead brought (lead_intakes), found again by its Idempotency-Key."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Row, bindparam, select

from store import db
from store.models import LeadIntake

T = LeadIntake.__table__

_BY_KEYS = select(T.c.idempotency_key, T.c.contact_id, T.c.outcome, T.c.request_hash).where(
    T.c.idempotency_key.in_(bindparam("keys", expanding=True))
)


def by_keys(connection: Connection, keys: Sequence[str]) -> dict[str, Row]:
    """The intakes API requests with these Idempotency-Keys made (each one's lead, outcome and
    the hash of its body), by key; keys never used are left out. Every request with a key asks."""
    found: dict[str, Row] = {}
    for part in db.parts(list(dict.fromkeys(keys))):
        found |= {row.idempotency_key: row for row in connection.execute(_BY_KEYS, {"keys": part})}
    return found
