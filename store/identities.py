"""What identifies one person across sources (lead_identities), and finding her by it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, or_, select

from store import db
from store.models import Contact, IdentityKind, LeadIdentity

Key = tuple[str, str]  # (IdentityKind, value)

_COLUMNS = {IdentityKind.EXTERNAL_USERID: "external_userid", IdentityKind.UNIONID: "unionid",
            IdentityKind.PHONE: "phone"}  # fmt: skip


def source_id(source: str, external_id: str) -> Key:
    return IdentityKind.SOURCE_ID, f"{source}|{external_id}"[:128]


def find(connection: Connection, keys: Sequence[Key]) -> list[int]:
    """The contacts any of the keys identifies, oldest first: by the keys leads came with,
    and by what WeCom told about her (external_userid, unionid, phone on the contact)."""
    if not keys:
        return []
    t, c = LeadIdentity.__table__, Contact.__table__
    found = set(connection.execute(
        select(t.c.contact_id).where(or_(*(
            (t.c.kind == kind) & (t.c.value == value) for kind, value in keys
        )))
    ).scalars())  # fmt: skip
    on_contact = [c.c[_COLUMNS[kind]] == value for kind, value in keys if kind in _COLUMNS]
    if on_contact:
        found |= set(connection.execute(select(c.c.id).where(or_(*on_contact))).scalars())
    return sorted(found)


def claim(
    connection: Connection, contact_id: int, keys: Iterable[Key], now: datetime
) -> dict[Key, int]:
    """Make the keys hers; the ones another contact holds already are returned with who holds
    them (a concurrent intake got there first: the caller starts over and merges)."""
    t = LeadIdentity.__table__
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    rows = [{"contact_id": contact_id, "kind": kind, "value": value, "created_at": now}
            for kind, value in keys]  # fmt: skip
    connection.execute(db.insert(connection, t).on_conflict_do_nothing(), rows)
    mine = or_(*((t.c.kind == kind) & (t.c.value == value) for kind, value in keys))
    held = connection.execute(
        select(t.c.kind, t.c.value, t.c.contact_id).where(t.c.contact_id != contact_id, mine)
    ).all()
    return {(row.kind, row.value): row.contact_id for row in held}


def of(connection: Connection, contact_id: int) -> list[Key]:
    t = LeadIdentity.__table__
    rows = connection.execute(
        select(t.c.kind, t.c.value).where(t.c.contact_id == contact_id).order_by(t.c.id)
    )
    return [(row.kind, row.value) for row in rows]


def holders(connection: Connection, keys: Sequence[Key]) -> dict[Key, set[int]]:
    """Who holds each of many keys (an import's chunk), in a few statements: by the keys leads
    came with, and by what WeCom told about her."""
    t, c = LeadIdentity.__table__, Contact.__table__
    found: dict[Key, set[int]] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, value in dict.fromkeys(keys):
        by_kind.setdefault(kind, []).append(value)
    for kind, values in by_kind.items():
        for start in range(0, len(values), 900):  # SQLite's limit on bound parameters
            part = values[start : start + 900]
            rows = connection.execute(
                select(t.c.value, t.c.contact_id).where(t.c.kind == kind, t.c.value.in_(part))
            )
            for value, contact_id in rows:
                found.setdefault((kind, value), set()).add(contact_id)
            if kind in _COLUMNS:
                column = c.c[_COLUMNS[kind]]
                for value, contact_id in connection.execute(
                    select(column, c.c.id).where(column.in_(part))
                ):
                    found.setdefault((kind, value), set()).add(contact_id)
    return found


def add_new(connection: Connection, owned: Sequence[tuple[int, Key]], now: datetime) -> bool:
    """Give new people their keys, (contact id, key) each; False if another writer holds one
    of them already (the caller starts over)."""
    if not owned:
        return True
    t = LeadIdentity.__table__
    rows = [{"contact_id": contact_id, "kind": kind, "value": value, "created_at": now}
            for contact_id, (kind, value) in owned]  # fmt: skip
    inserted = connection.execute(
        db.insert(connection, t).on_conflict_do_nothing().returning(t.c.id), rows
    ).all()
    return len(inserted) == len(rows)
