"""The durable inbox of callbacks: insert once, claim with a lease, finish, retry or fail.

Every state change is a single conditional UPDATE, so two workers (or a worker and the relay)
racing over one row cannot both win.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from xml.sax.saxutils import escape

from sqlalchemy import Connection, Executable, Row, and_, func, or_, select, update
from sqlmodel import Session

from store.db import insert_for
from store.models import InboundEvent, InboxStatus

T = InboundEvent.__table__


@dataclass(frozen=True)
class NewEvent:
    dedupe_key: str
    msg_type: str
    event: str
    change_type: str
    payload: str
    source: str = "callback"


@dataclass(frozen=True)
class Stored:
    id: int
    new: bool
    job_id: str | None


def store_events(
    connection: Connection, events: Sequence[NewEvent], now: datetime, job_ids: Sequence[str]
) -> list[Stored]:
    """Insert each event unless its dedupe_key is known; new rows are marked queued with job_ids.

    Two statements whatever the batch size: insert-or-ignore all, then read back the ids.
    A row is ours (new) when it carries our job id. The caller commits, then enqueues the
    jobs; if that fails it calls `unqueue`.
    """
    ours: dict[str, str] = {}
    values = []
    for event, job_id in zip(events, job_ids, strict=True):
        if event.dedupe_key in ours:
            continue
        ours[event.dedupe_key] = job_id
        values.append(
            {
                "dedupe_key": event.dedupe_key,
                "source": event.source,
                "msg_type": event.msg_type,
                "event": event.event,
                "change_type": event.change_type,
                "payload": event.payload,
                "status": InboxStatus.QUEUED,
                "attempts": 0,
                "job_id": job_id,
                "received_at": now,
                "enqueued_at": now,
            }
        )
    connection.execute(_adding(connection.dialect.name), values)
    rows = connection.execute(
        select(T.c.dedupe_key, T.c.id, T.c.job_id).where(T.c.dedupe_key.in_(list(ours)))
    )
    found = {row.dedupe_key: (row.id, row.job_id) for row in rows}
    results: list[Stored] = []
    for event in events:
        row_id, job_id = found[event.dedupe_key]
        new = ours.pop(event.dedupe_key, None) == job_id  # only the batch's first copy
        results.append(Stored(row_id, new, job_id if new else None))
    return results


def unqueue(connection: Connection, ids: Iterable[int]) -> None:
    """The queue could not take these: leave them for the relay."""
    connection.execute(
        update(T)
        .where(T.c.id.in_(list(ids)), T.c.status == InboxStatus.QUEUED)
        .values(status=InboxStatus.RECEIVED, job_id=None, enqueued_at=None)
    )


def requeue(
    connection: Connection,
    row_id: int,
    status: str,
    old_job_id: str | None,
    job_id: str,
    now: datetime,
) -> bool:
    """Mark the row queued under a new job id, if it is still as the relay saw it."""
    same_job = T.c.job_id.is_(None) if old_job_id is None else T.c.job_id == old_job_id
    result = connection.execute(
        update(T)
        .where(T.c.id == row_id, T.c.status == status, same_job)
        .values(status=InboxStatus.QUEUED, job_id=job_id, enqueued_at=now)
    )
    return result.rowcount == 1


def add_warnings(session: Session, row_id: int, warnings: Sequence[str]) -> None:
    """Keep what went wrong in the deadline part of the row's event, for its whole handler."""
    row = session.get(InboundEvent, row_id)
    if row is not None:
        merged = list(dict.fromkeys(warnings_of(row.warning) + list(warnings)))
        row.warning = WARNINGS_SEPARATOR.join(merged)[:4000]
        session.add(row)


def claim(session: Session, row_id: int, now: datetime, lease: timedelta) -> InboundEvent | None:
    """Take the row for handling until now + lease; None if it is done or someone holds it."""
    claimable = or_(
        T.c.status.in_([InboxStatus.RECEIVED, InboxStatus.QUEUED, InboxStatus.RETRY]),
        and_(T.c.status == InboxStatus.PROCESSING, T.c.lease_until < now),
    )
    result = session.connection().execute(
        update(T)
        .where(T.c.id == row_id, claimable)
        .values(status=InboxStatus.PROCESSING, lease_until=now + lease, attempts=T.c.attempts + 1)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.get(InboundEvent, row_id, populate_existing=True)


def finish(
    session: Session, row_id: int, status: InboxStatus, now: datetime,
    warning: str | Sequence[str] = "",
) -> None:  # fmt: skip
    """Handled (or unhandled); `warning`: what optional parts of the handling failed, one
    message each (kept a line each, so `warnings_of` can count them)."""
    text = warning if isinstance(warning, str) else WARNINGS_SEPARATOR.join(warning)
    session.connection().execute(
        update(T)
        .where(T.c.id == row_id, T.c.status == InboxStatus.PROCESSING)
        .values(status=status, finished_at=now, lease_until=None, last_error=None,
                warning=text[:4000] or None)
    )  # fmt: skip


WARNINGS_SEPARATOR = "\n"


def warnings_of(warning: str | None) -> list[str]:
    """The warnings kept on a row, one each. Rows written with the warnings joined by "; "
    (before they were kept a line each) are split there."""
    if not warning:
        return []
    separator = WARNINGS_SEPARATOR if WARNINGS_SEPARATOR in warning else "; "
    return [part.strip() for part in warning.split(separator) if part.strip()]


def retry_later(
    session: Session, row_id: int, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Record a failure: due again at retry_at, or failed for good when retry_at is None."""
    values = (
        {"status": InboxStatus.RETRY, "next_attempt_at": retry_at}
        if retry_at is not None
        else {"status": InboxStatus.FAILED, "finished_at": now}
    )
    session.connection().execute(
        update(T)
        .where(T.c.id == row_id, T.c.status == InboxStatus.PROCESSING)
        .values(**values, lease_until=None, last_error=error[:4000])
    )
    session.commit()


def due_for_relay(
    connection: Connection, now: datetime, requeue_after: timedelta, limit: int = 500
) -> list[tuple[int, str, str | None]]:
    """(id, status, job_id) of rows that should be (re)queued now.

    received: never reached the queue; retry: backoff elapsed; processing: the lease ran out
    (the worker died); queued: waiting longer than requeue_after (the caller checks whether
    its job still exists in Redis before queueing it again).
    """
    condition = or_(
        T.c.status == InboxStatus.RECEIVED,
        and_(T.c.status == InboxStatus.RETRY, T.c.next_attempt_at <= now),
        and_(T.c.status == InboxStatus.PROCESSING, T.c.lease_until < now),
        and_(T.c.status == InboxStatus.QUEUED, T.c.enqueued_at < now - requeue_after),
    )
    rows = connection.execute(
        select(T.c.id, T.c.status, T.c.job_id).where(condition).order_by(T.c.id).limit(limit)
    )
    return [(row.id, row.status, row.job_id) for row in rows]


def reopen(session: Session, row_id: int) -> bool:
    """Give a failed event another round of attempts (operator action)."""
    result = session.connection().execute(
        update(T)
        .where(T.c.id == row_id, T.c.status.in_([InboxStatus.FAILED, InboxStatus.UNHANDLED]))
        .values(status=InboxStatus.RECEIVED, attempts=0, next_attempt_at=None, finished_at=None)
    )
    session.commit()
    return result.rowcount == 1


def counts_by_status(connection: Connection) -> dict[str, int]:
    rows = connection.execute(select(T.c.status, func.count()).group_by(T.c.status))
    return {status: count for status, count in rows}


def listing(session: Session, status: str | None = None, limit: int = 50) -> list[InboundEvent]:
    query = select(InboundEvent).order_by(InboundEvent.id.desc()).limit(limit)
    if status:
        query = query.where(InboundEvent.status == status)
    return list(session.scalars(query))


PENDING = (InboxStatus.RECEIVED, InboxStatus.QUEUED, InboxStatus.RETRY, InboxStatus.PROCESSING)


def oldest_pending(connection: Connection) -> Row | None:
    """(id, status, received_at) of the oldest callback not finished yet, or None."""
    return connection.execute(
        select(T.c.id, T.c.status, T.c.received_at)
        .where(T.c.status.in_(PENDING)).order_by(T.c.received_at, T.c.id).limit(1)
    ).first()  # fmt: skip


def add(connection: Connection, event: NewEvent, now: datetime) -> None:
    """Keep an event of mombot's own (a lead was assigned) for a worker: the relay queues it.
    Written with the change it follows, so neither is had without the other; once per key."""
    connection.execute(
        _adding(connection.dialect.name),
        [{"dedupe_key": event.dedupe_key, "source": event.source, "msg_type": event.msg_type,
          "event": event.event, "change_type": event.change_type, "payload": event.payload,
          "status": InboxStatus.RECEIVED, "attempts": 0, "received_at": now}],
    )  # fmt: skip


@cache
def _adding(dialect: str) -> Executable:
    """Made once per dialect (every callback, and each lead taken in, writes one)."""
    statement = insert_for(dialect, T)
    return statement.on_conflict_do_nothing(index_elements=["dedupe_key"])


ANNOUNCED = 100  # leads named in one event of `announce`


def announce(
    connection: Connection, event: str, contact_ids: Sequence[int], states: Sequence[str],
    now: datetime,
) -> None:  # fmt: skip
    """Events of mombot's own naming leads whose state just changed (a score crossing its
    threshold, a new value tier), ANNOUNCED leads to an event: the worker reads the leads'
    state then. Once per change: the same leads changing back at the same moment (a retried
    job) are announced again."""
    for start in range(0, len(contact_ids), ANNOUNCED):
        ids = ",".join(map(str, contact_ids[start : start + ANNOUNCED]))
        change = hashlib.sha1(f"{ids}:{list(states[start : start + ANNOUNCED])}".encode())
        payload = (f"<xml><MsgType>event</MsgType><Event>{escape(event)}</Event>"
                   f"<ContactIds>{ids}</ContactIds>"
                   f"<CreateTime>{int(now.timestamp())}</CreateTime></xml>")  # fmt: skip
        key = f"mombot:{event}:{now.isoformat()}:{change.hexdigest()}"
        add(connection, NewEvent(key, "event", event, "", payload, "mombot"), now)


def announced(fields: dict[str, object]) -> list[int]:
    """The leads an `announce` event names, from the event's fields."""
    return [int(i) for i in str(fields.get("ContactIds", "")).split(",") if i.isdigit()]
