"""The statements behind the managers' reports: counts of what happened in a period, each read
through an index on its moment, for everyone or for some advisors' customers only.

Moments are aware datetimes (stored as UTC); `bounds` are the edges of the period's buckets
(its days, in the configured time zone, made by the caller), so a bucket is counted in SQL
without any time-zone arithmetic of the database's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from store import sop_tasks
from store.models import (
    Contact,
    ContactStatus,
    CustomerGroup,
    FollowUp,
    KfMessage,
    KfOrigin,
    LeadEvent,
    PoolEvent,
    SopTask,
)

C = Contact.__table__
E = LeadEvent.__table__
F = FollowUp.__table__
P = PoolEvent.__table__
S = SopTask.__table__
G = CustomerGroup.__table__
K = KfMessage.__table__

FUNNEL = (ContactStatus.NEW, ContactStatus.CONTACTED, ContactStatus.INTERESTED,
          ContactStatus.SIGNED)  # fmt: skip
OPEN = (ContactStatus.NEW, ContactStatus.CONTACTED, ContactStatus.INTERESTED)
DONE = ("sent", "skipped", "failed")  # what a SOP task ends as (TaskStatus)
ANSWER_HOURS = 48  # she answered a SOP step when she wrote to the bot within this


@dataclass(frozen=True)
class Window:
    """[start, end): the period's moments; `owners`: whose customers (None: everyone's)."""

    start: datetime
    end: datetime
    owners: tuple[str, ...] | None = None


def _mine(window: Window, column: ColumnElement = C.c.owner_userid) -> ColumnElement[bool]:
    return literal(True) if window.owners is None else column.in_(window.owners)


def _bucket(column: ColumnElement, bounds: Sequence[datetime]) -> ColumnElement[int]:
    """Which of the buckets between `bounds` the moment falls in (0 …); -1 outside them."""
    whens = [(column < edge, index - 1) for index, edge in enumerate(bounds) if index]
    return case((column < bounds[0], -1), *whens, else_=-1)


def _between(column: ColumnElement, window: Window) -> ColumnElement[bool]:
    return and_(column >= window.start, column < window.end)


def adds(connection: Connection, window: Window, bounds: Sequence[datetime]) -> list[tuple]:
    """(channel_code, owner, bucket, count): contacts who added an advisor in WeCom."""
    bucket = _bucket(C.c.added_at, bounds).label("bucket")
    query = (select(C.c.channel_code, C.c.owner_userid, bucket, func.count())
             .where(_between(C.c.added_at, window), _mine(window))
             .group_by(C.c.channel_code, C.c.owner_userid, bucket))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def departures(
    connection: Connection, window: Window, bounds: Sequence[datetime], reasons: Sequence[str]
) -> list[tuple]:
    """(bucket, count): contacts whose WeCom friendship with their advisor ended (a loss for
    one of `reasons`: she deleted him, or he her)."""
    bucket = _bucket(E.c.at, bounds).label("bucket")
    query = (select(bucket, func.count(distinct(E.c.contact_id)))
             .select_from(E.join(C, C.c.id == E.c.contact_id))
             .where(_between(E.c.at, window), E.c.to_status == ContactStatus.LOST,
                    E.c.reason.in_(reasons), _mine(window))
             .group_by(bucket))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def cohort(connection: Connection, window: Window) -> list[tuple]:
    """(channel, reached, count) for the leads who became leads in the period: how far each
    got in the funnel by its end (0 新线索 … 3 已签约, by the furthest step ever reached; a
    lead lost later still counts where she got). channel: her channel code, else her source."""
    first = E.alias("first")
    rank = case(*[(E.c.to_status == status, i) for i, status in enumerate(FUNNEL)], else_=0)
    per_lead = (
        select(func.coalesce(func.nullif(C.c.channel_code, ""), C.c.source).label("channel"),
               func.max(rank).label("reached"))
        .select_from(first.join(C, C.c.id == first.c.contact_id)
                     .join(E, and_(E.c.contact_id == first.c.contact_id, E.c.at < window.end)))
        .where(_between(first.c.at, window), first.c.from_status == "", _mine(window))
        .group_by(first.c.contact_id, C.c.channel_code, C.c.source)
    ).subquery()  # fmt: skip
    query = (select(per_lead.c.channel, per_lead.c.reached, func.count())
             .group_by(per_lead.c.channel, per_lead.c.reached))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def signed(connection: Connection, window: Window) -> list[tuple]:
    """(owner, count, amount in fen): leads who stepped into 已签约 in the period, with what
    they signed for as it stands. (`id IN (…)`: the ids are looked up in order.)"""
    ids = select(E.c.contact_id).where(
        _between(E.c.at, window), E.c.to_status == ContactStatus.SIGNED,
        E.c.from_status != ContactStatus.SIGNED)  # fmt: skip
    query = (select(C.c.owner_userid, func.count(), func.sum(C.c.signed_amount_cents))
             .where(C.c.id.in_(ids), _mine(window)).group_by(C.c.owner_userid))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def lost_reasons(connection: Connection, window: Window) -> list[tuple]:
    """(reason, count): leads lost in the period, by why."""
    query = (select(func.coalesce(E.c.reason, ""), func.count(distinct(E.c.contact_id)))
             .select_from(E.join(C, C.c.id == E.c.contact_id))
             .where(_between(E.c.at, window), E.c.to_status == ContactStatus.LOST, _mine(window))
             .group_by(E.c.reason))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def first_responses(connection: Connection, window: Window) -> list[tuple]:
    """(owner, seconds to the first follow-up, to the millisecond, or None) for the leads given
    to an advisor in the period: by an [[assign]] rule, else by adding him in WeCom (the moment
    is indexed as ix_contacts_given_at). The follow-up is the first logged by anyone at or
    after it. The seconds are worked out in SQL: a month has some 80,000 leads, and reading
    two moments of each back as datetimes would take longer than the statement."""
    given = func.coalesce(C.c.assigned_at, C.c.added_at)
    first = (
        select(func.min(F.c.created_at))
        .where(F.c.contact_id == C.c.id, F.c.created_at >= given)
        .scalar_subquery()
    )
    query = select(C.c.owner_userid, _seconds(given, first, connection.dialect.name)).where(
        _between(given, window), C.c.owner_userid != "", _mine(window))  # fmt: skip
    return [(owner, None if seconds is None else round(float(seconds), 3))
            for owner, seconds in connection.execute(query)]  # fmt: skip


def _seconds(earlier: ColumnElement, later: ColumnElement, dialect: str) -> ColumnElement:
    """Seconds from `earlier` to `later` (NULL if either is). SQLite's julianday() is a double
    good to about 0.05 ms, hence the caller's rounding."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86_400.0


def new_leads(connection: Connection, window: Window) -> int:
    """How many became leads in the period (the cohort's size, without where they got)."""
    query = select(func.count()).where(_between(E.c.at, window), E.c.from_status == "")
    if window.owners is not None:
        query = query.where(exists().where(C.c.id == E.c.contact_id, _mine(window)))
    return connection.execute(query).scalar_one()


def follow_ups(connection: Connection, window: Window) -> list[tuple]:
    """(userid, count): follow-ups logged in the period, by who logged them."""
    query = (select(F.c.userid, func.count()).where(_between(F.c.created_at, window),
                                                    _mine(window, F.c.userid))
             .group_by(F.c.userid))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def coverage(connection: Connection, window: Window) -> tuple[int, int]:
    """(open leads now, those of them with a follow-up logged in the period)."""
    is_open = and_(C.c.status.in_(OPEN), _mine(window))
    total = connection.execute(select(func.count()).where(is_open)).scalar_one()
    touched = select(F.c.contact_id).where(_between(F.c.created_at, window))
    covered = connection.execute(
        select(func.count()).where(is_open, C.c.id.in_(touched))
    ).scalar_one()
    return total, covered


def pool_moves(connection: Connection, window: Window) -> list[tuple]:
    """(kind, reason, count): leads put in the public pool (公海) and claimed from it. Scoped
    by who released or claimed her."""
    query = (select(P.c.kind, P.c.reason, func.count())
             .where(_between(P.c.at, window), _mine(window, P.c.userid))
             .group_by(P.c.kind, P.c.reason))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def stages(connection: Connection, owners: tuple[str, ...] | None) -> list[tuple]:
    """(stage, count) of the customers not lost, as they are now."""
    mine = literal(True) if owners is None else C.c.owner_userid.in_(owners)
    query = (select(C.c.stage, func.count())
             .where(C.c.stage.is_not(None), C.c.status != ContactStatus.LOST, mine)
             .group_by(C.c.stage))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def tiers(connection: Connection, owners: tuple[str, ...] | None) -> list[tuple]:
    """(tier, count) of the buyers, as they are now."""
    mine = literal(True) if owners is None else C.c.owner_userid.in_(owners)
    query = (select(C.c.tier, func.count()).where(C.c.tier.is_not(None), mine)
             .group_by(C.c.tier))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


TARGET_CONTACT = sop_tasks.TARGET_CONTACT


def _task_owner(window: Window) -> ColumnElement[bool]:
    """The task's target (a contact, or a customer group) belongs to one of the owners."""
    if window.owners is None:
        return literal(True)
    contact = exists().where(C.c.id == TARGET_CONTACT, C.c.owner_userid.in_(window.owners))
    group = exists().where(S.c.target.like("g:%"), G.c.chat_id == func.substr(S.c.target, 3),
                           G.c.owner_userid.in_(window.owners))  # fmt: skip
    return or_(contact, group)


SENT = "sent"


def sop_outcomes(connection: Connection, window: Window) -> list[tuple]:
    """(sop_id, status, count, to her, mass sends, confirmed) of the SOP steps that ended in
    the period (sent, skipped or failed), along one index (ix_sop_tasks_done on SQLite;
    on PostgreSQL ix_sop_tasks_done_at, which holds all it reads): `to her` messages sent to a
    mother, `mass sends` steps handed to her advisor (add_msg_template),
    `confirmed` those of them WeCom says went out (as last read back)."""
    to_her = and_(S.c.status == SENT, S.c.detail == sop_tasks.SENT_TO_HER,
                  S.c.target.like("c:%"))  # fmt: skip
    mass = and_(S.c.status == SENT, S.c.msgid.is_not(None))

    def how_many(condition: ColumnElement[bool]):
        return func.sum(case((condition, 1), else_=0))

    query = (select(S.c.sop_id, S.c.status, func.count(), how_many(to_her), how_many(mass),
                    how_many(and_(mass, S.c.mass_result == SENT)))
             .where(S.c.status.in_(DONE), _between(S.c.updated_at, window), _task_owner(window))
             .group_by(S.c.status, S.c.sop_id))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def _within(later: ColumnElement, earlier: ColumnElement, dialect: str) -> ColumnElement[bool]:
    """`later` is at most ANSWER_HOURS after `earlier`."""
    if dialect == "postgresql":
        return later <= earlier + literal_column(f"interval '{ANSWER_HOURS} hours'")
    return func.julianday(later) <= func.julianday(earlier) + ANSWER_HOURS / 24


def sop_answers(connection: Connection, window: Window) -> list[tuple]:
    """(sop_id, count) of the SOP steps sent to a mother in the period that she answered by
    writing to the bot within ANSWER_HOURS. Read from her messages (few) to the steps sent
    her, not from every step sent."""
    late = window.end + timedelta(hours=ANSWER_HOURS)
    query = (select(S.c.sop_id, func.count(distinct(S.c.id)))
             .select_from(K.join(C, C.c.external_userid == K.c.external_userid)
                          .join(S, S.c.target == literal("c:") + cast(C.c.id, String)))
             .where(K.c.origin == KfOrigin.CUSTOMER, K.c.sent_at > window.start,
                    K.c.sent_at <= late,
                    _between(S.c.updated_at, window), S.c.status == SENT,
                    S.c.detail == sop_tasks.SENT_TO_HER, K.c.sent_at > S.c.updated_at,
                    _within(K.c.sent_at, S.c.updated_at, connection.dialect.name),
                    _mine(window))
             .group_by(S.c.sop_id))  # fmt: skip
    return [tuple(row) for row in connection.execute(query)]


def prepare(connection: Connection) -> None:
    """Tune the report's transaction: on PostgreSQL its statements are short reads over
    indexes, which JIT compilation slows down (by up to half a second each) and which the
    planner prices as on spinning disks unless told the pages are at hand."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL jit = off")
        connection.exec_driver_sql("SET LOCAL random_page_cost = 1.1")


def bare_counts(connection: Connection) -> dict[str, int]:
    """COUNT(*) of the tables the reports read: the benchmark's baseline."""
    return {
        table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
        for table in (C, F, S, E)
    }
