"""What identifies one person across sources (lead_identities), and finding her by it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import CompoundSelect, Connection, Select, bindparam, select

from store import db
from store.models import Contact, IdentityKind, LeadIdentity

Key = tuple[str, str]  # (IdentityKind, value)

_COLUMNS = {IdentityKind.EXTERNAL_USERID: "external_userid", IdentityKind.UNIONID: "unionid",
            IdentityKind.PHONE: "phone"}  # fmt: skip


def keys(external_userid: str, unionid: str, phone: str) -> list[Key]:
    """The keys a source's values give her (the empty ones left out)."""
    pairs = ((IdentityKind.EXTERNAL_USERID, external_userid), (IdentityKind.UNIONID, unionid),
             (IdentityKind.PHONE, phone))  # fmt: skip
    return [(kind, value) for kind, value in pairs if value]


def source_id(source: str, external_id: str) -> Key:
    return IdentityKind.SOURCE_ID, f"{source}|{external_id}"[:128]


def find(connection: Connection, keys: Sequence[Key]) -> list[int]:
    """The contacts any of the keys identifies, oldest first."""
    return sorted(set().union(*holders(connection, keys).values()))


def claim(
    connection: Connection, owned: Sequence[tuple[int, Key]], now: datetime
) -> dict[Key, set[int]]:
    """Give each contact its keys ((contact id, key) each); returns the keys someone else holds
    too (a concurrent intake got there first: the caller starts over and merges), with who."""
    if not owned:
        return {}
    t = LeadIdentity.__table__
    rows = [{"contact_id": contact_id, "kind": kind, "value": value, "created_at": now}
            for contact_id, (kind, value) in dict.fromkeys(owned)]  # fmt: skip
    added = connection.execute(
        db.insert(connection, t).on_conflict_do_nothing().returning(t.c.kind, t.c.value), rows
    ).all()
    new = {(row.kind, row.value) for row in added}
    known = [(contact_id, key) for contact_id, key in owned if key not in new]
    if not known:  # every key was new: nobody else has them
        return {}
    held = holders(connection, [key for _, key in known])
    mine = {key: contact_id for contact_id, key in known}
    return {key: ids - {mine[key]} for key, ids in held.items() if ids - {mine[key]}}


def holders(connection: Connection, keys: Sequence[Key]) -> dict[Key, set[int]]:
    """Who holds each of many keys (an import's chunk), in a few statements: by the keys leads
    came with, and by what WeCom told about her."""
    found: dict[Key, set[int]] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, value in dict.fromkeys(keys):
        by_kind.setdefault(kind, []).append(value)
    for kind, values in by_kind.items():
        for some in db.parts(values):
            part = {"kind": kind, "values": some}
            statement = _holding(_COLUMNS.get(kind), connection.dialect.name)
            for value, contact_id in connection.execute(statement, part):
                found.setdefault((kind, value), set()).add(contact_id)
    return found


@cache
def _holding(column: str | None, dialect: str) -> Select | CompoundSelect:
    """Who holds the values bound of the kind bound: by the keys leads came with and, for a
    kind WeCom tells too (`column`), by the contacts' own column; one statement."""
    t, c = LeadIdentity.__table__, Contact.__table__
    by_key = select(t.c.value, t.c.contact_id).where(
        t.c.kind == bindparam("kind"), db.one_of(t.c.value, "values", dialect)
    )
    if column is None:
        return by_key
    by_column = select(c.c[column], c.c.id).where(db.one_of(c.c[column], "values", dialect))
    return by_key.union_all(by_column)
