"""Signs of a lead's intent, read from her history (the rows other parts keep anyway): where she
came from, what she told the bot, her stages, follow-ups, status steps, tags and orders. Lead
scores are counted from these (crm.scoring)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)

from store import db
from store.models import (
    Contact,
    ContactTag,
    FollowUp,
    KfMessage,
    KfOrigin,
    LeadEvent,
    LeadIntake,
    Order,
    StageEvent,
)

SEEN = "seen"  # her latest message to the bot: no signal, a sign of life
INTAKE = "intake"  # what one source sent of her: read into source and complete_form
ALIVE = {"followed_up", "ordered", SEEN}  # signals that end a silence (and told_dates)


@dataclass(frozen=True)
class Signal:
    kind: str  # crm.config.SIGNALS
    value: str  # what kind of it: the source, the stage, the tag … ("" when it has none)
    at: datetime


@dataclass
class History:
    """One lead's signals, and the latest sign of life from her or her advisor."""

    contact_id: int
    score: int  # as counted last time
    arrived_at: datetime  # added to her advisor, or made a lead
    signals: list[Signal] = field(default_factory=list)
    last_seen: datetime | None = None

    def seen(self, at: datetime | None) -> None:
        if at is not None and (self.last_seen is None or at > self.last_seen):
            self.last_seen = at


def of(connection: Connection, contact_ids: Sequence[int]) -> dict[int, History]:
    """The histories of these leads (the unknown ids left out)."""
    found: dict[int, History] = {}
    for start in range(0, len(contact_ids), 900):
        found |= _read(connection, "", {"ids": list(contact_ids[start : start + 900])})
    return found


def between(connection: Connection, first: int, last: int) -> dict[int, History]:
    """The histories of the leads with ids from first to last (both included)."""
    return _read(connection, "between", {"first": first, "last": last})


@cache
def _statements(dialect: str) -> tuple[Select, CompoundSelect]:
    """Her row, and the rest of her history in one statement (a lead's history is read as
    often as she acts): made once per dialect ("between": for a range of ids), their ids
    bound when run."""

    def scope(column):
        if dialect == "between":
            return column.between(bindparam("first"), bindparam("last"))
        return db.one_of(column, "ids", dialect)

    c, k, s, f, e, t, o, i = (Contact.__table__, KfMessage.__table__, StageEvent.__table__,
                              FollowUp.__table__, LeadEvent.__table__, ContactTag.__table__,
                              Order.__table__, LeadIntake.__table__)  # fmt: skip
    people = select(c.c.id, c.c.score, c.c.channel_code, c.c.added_at, c.c.created_at,
                    c.c.told_dates_at).where(scope(c.c.id))  # fmt: skip

    def kind(name: str):
        return literal(name, String).label("kind")

    written = (k.join(c, c.c.external_userid == k.c.external_userid), and_(
        scope(c.c.id), k.c.origin == KfOrigin.CUSTOMER))  # fmt: skip
    everything = union_all(
        select(s.c.contact_id, kind("stage"), s.c.stage, s.c.created_at)
        .where(scope(s.c.contact_id)),
        select(f.c.contact_id, kind("followed_up"), f.c.userid, f.c.created_at)
        .where(scope(f.c.contact_id)),
        select(e.c.contact_id, kind("status"), e.c.to_status, e.c.at)
        .where(and_(scope(e.c.contact_id), e.c.from_status != e.c.to_status)),
        select(t.c.contact_id, kind("tag"), t.c.name, t.c.added_at).where(scope(t.c.contact_id)),
        select(o.c.contact_id, kind("ordered"), o.c.order_id, o.c.ordered_at)
        .where(scope(o.c.contact_id)),
        select(i.c.contact_id, kind(INTAKE), i.c.fields, i.c.at).where(scope(i.c.contact_id)),
        select(c.c.id, kind("replied"), literal("", String), func.min(k.c.sent_at))
        .select_from(written[0]).where(written[1]).group_by(c.c.id),
        select(c.c.id, kind(SEEN), literal("", String), func.max(k.c.sent_at))
        .select_from(written[0]).where(written[1]).group_by(c.c.id),
    )  # fmt: skip
    return people, everything


def _read(connection: Connection, scope: str, bounds: dict) -> dict[int, History]:
    people, everything = _statements(scope or connection.dialect.name)
    found: dict[int, History] = {}
    for row in connection.execute(people, bounds):
        arrived = row.added_at or row.created_at
        history = found[row.id] = History(row.id, row.score, arrived)
        history.seen(arrived)
        if row.channel_code and row.added_at:
            history.signals.append(Signal("channel", row.channel_code, row.added_at))
        if row.told_dates_at:
            history.signals.append(Signal("told_dates", "", row.told_dates_at))
            history.seen(row.told_dates_at)
    if not found:
        return found
    for contact_id, name, value, at in connection.execute(everything, bounds):
        history = found.get(contact_id)
        if history is None:
            continue
        if name == INTAKE:
            history.signals += _sent(value, at)
        elif name != SEEN:
            history.signals.append(Signal(name, value or "", at))
        if name in ALIVE:
            history.seen(at)
    return found


def _sent(fields: str, at: datetime) -> list[Signal]:
    """What one intake (a form, a partner's list, an order's buyer) says of her: where she
    came from, and whether the form was complete (her name, phone and a date)."""
    sent = json.loads(fields)
    found = [Signal("source", sent["source"], at)] if sent.get("source") else []
    if sent.get("name") and sent.get("phone") and (sent.get("due_date")
                                                   or sent.get("baby_birthday")):  # fmt: skip
        found.append(Signal("complete_form", "", at))
    return found


def save_scores(connection: Connection, scores: dict[int, tuple[int, int]]) -> None:
    """Keep these leads' new scores (id → (score counted from, new score)); a lead whose score
    another writer changed meanwhile keeps that one (counted from newer history)."""
    if not scores:
        return
    connection.execute(_SAVE_SCORE, [{"key": k, "old": old, "new": new}
                                     for k, (old, new) in scores.items()])  # fmt: skip


_SAVE_SCORE = (
    Contact.__table__.update()
    .where(and_(Contact.__table__.c.id == bindparam("key"),
                Contact.__table__.c.score == bindparam("old")))
    .values(score=bindparam("new"))
)  # fmt: skip


def hot_tag_astray(connection: Connection, threshold: int, tag: str) -> list[int]:
    """WeCom customers with an advisor whose hot tag (by name) disagrees with their score: at
    the threshold without it, or below it with it."""
    c, t = Contact.__table__, ContactTag.__table__
    tagged = exists().where(and_(t.c.contact_id == c.c.id, t.c.name == tag))
    query = select(c.c.id).where(
        c.c.external_userid.is_not(None), c.c.owner_userid != "", c.c.status != "lost",
        or_(and_(c.c.score >= threshold, ~tagged), and_(c.c.score < threshold, tagged)),
    ).order_by(c.c.id)  # fmt: skip
    return list(connection.execute(query).scalars())


def id_range(connection: Connection) -> tuple[int, int]:
    """The smallest and largest lead id (0, 0 when there is none)."""
    c = Contact.__table__
    low, high = connection.execute(select(func.min(c.c.id), func.max(c.c.id))).one()
    return low or 0, high or 0
