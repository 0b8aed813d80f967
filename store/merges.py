"""Two contacts found to be one person become one: everything of the one that goes moves to
the one that stays, and her row as it was is kept (contact_merges)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Connection, and_, delete, exists, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from store import db
from store.models import (
    Contact,
    ContactFollow,
    ContactMerge,
    ContactTag,
    FollowUp,
    LeadEvent,
    LeadIdentity,
    LeadIntake,
    LeadNotice,
    Order,
    PoolEvent,
    SopTask,
    StageEvent,
    TaskStatus,
)

# what an empty field of the one who stays takes from the one who goes
FILLED = ("external_userid", "name", "avatar", "unionid", "phone", "city", "owner_userid",
          "channel_code", "source", "due_date", "baby_birthday", "added_at", "stage",
          "stage_since", "stage_tag_id", "tags_read_at")  # fmt: skip
# her rows that go to the one who stays
MOVED = (LeadEvent, FollowUp, StageEvent, LeadIdentity, LeadIntake, PoolEvent, Order, LeadNotice)
FUNNEL = ("new", "contacted", "interested", "signed")  # further on wins; lost only if both are


def snapshot(contact: Contact) -> str:
    return json.dumps({k: _plain(v) for k, v in contact.model_dump().items()}, ensure_ascii=False)


def merge(session: Session, keep: Contact, gone: Contact, now: datetime) -> dict[str, list]:
    """Merge `gone` into `keep`; returns the fields where they disagreed ({field: [kept,
    other]}), which stay readable in the snapshot. The caller adds a history note."""
    conflicts: dict[str, list] = {}
    taken: dict[str, object] = {}
    for name in FILLED:
        mine, theirs = getattr(keep, name), getattr(gone, name)
        if theirs in (None, ""):
            continue
        if mine in (None, ""):
            taken[name] = theirs
        elif mine != theirs:
            conflicts[name] = [_plain(mine), _plain(theirs)]
    _take_status(keep, gone)
    keep.opted_out = keep.opted_out or gone.opted_out
    keep.trying_to_conceive = keep.trying_to_conceive or gone.trying_to_conceive
    session.flush()
    connection = session.connection()
    _move_rows(connection, gone.id, keep.id, now)
    record = snapshot(gone)
    session.delete(gone)
    session.flush()  # her external_userid is free now
    for name, value in taken.items():
        setattr(keep, name, value)
    keep.updated_at = now
    session.add(keep)
    session.add(ContactMerge(gone_id=gone.id, into_id=keep.id, at=now, snapshot=record))
    session.flush()
    return conflicts


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _take_status(keep: Contact, gone: Contact) -> None:
    def rank(contact: Contact) -> int:
        return FUNNEL.index(contact.status) if contact.status in FUNNEL else -1

    if rank(gone) > rank(keep):
        keep.status, keep.lost_reason, keep.lost_at = gone.status, None, None
    keep.signed_at = keep.signed_at or gone.signed_at
    if keep.signed_amount_cents is None:
        keep.signed_amount_cents = gone.signed_amount_cents
    moments = [m for m in (keep.last_followup_at, gone.last_followup_at) if m is not None]
    keep.last_followup_at = max(moments, default=None)
    told = [m for m in (keep.told_dates_at, gone.told_dates_at) if m is not None]
    keep.told_dates_at = min(told, default=None)  # she first told the bot then


def _move_rows(connection: Connection, gone: int, keep: int, now: datetime) -> None:
    for model in MOVED:
        t = model.__table__
        connection.execute(update(t).where(t.c.contact_id == gone).values(contact_id=keep))
    for model, column in ((ContactTag, "tag_id"), (ContactFollow, "userid")):
        t = model.__table__
        mine = aliased(t)
        duplicate = exists().where(and_(mine.c.contact_id == keep, mine.c[column] == t.c[column]))
        connection.execute(
            update(t).where(t.c.contact_id == gone, ~duplicate).values(contact_id=keep)
        )
        connection.execute(delete(t).where(t.c.contact_id == gone))
    tasks = SopTask.__table__
    connection.execute(
        update(tasks)
        .where(tasks.c.target == f"c:{gone}",
               tasks.c.status.in_([TaskStatus.PENDING, TaskStatus.QUEUED]))
        .values(status=TaskStatus.CANCELLED, detail=f"merged into contact {keep}", updated_at=now)
    )  # fmt: skip
    merges = ContactMerge.__table__
    connection.execute(update(merges).where(merges.c.into_id == gone).values(into_id=keep))


def resolve(session: Session, contact_id: int) -> int:
    """The contact an id names now: itself, or the one it was merged into."""
    return resolve_all(session, [contact_id])[0]


def resolve_all(session: Session, contact_ids: Sequence[int]) -> list[int]:
    """`resolve` for each of many ids (an event naming a thousand leads), in order."""
    t = ContactMerge.__table__
    into: dict[int, int] = {}
    for part in db.parts(contact_ids):
        rows = session.connection().execute(
            select(t.c.gone_id, t.c.into_id).where(t.c.gone_id.in_(part))
        )
        into.update((row.gone_id, row.into_id) for row in rows)
    return [into.get(i, i) for i in contact_ids]
