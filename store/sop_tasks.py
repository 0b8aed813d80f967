"""SOP task rows: planned once per (SOP, step, target, trigger occurrence), then moved through
pending → queued → sent / skipped / cancelled / failed. Every statement on sop_tasks is here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Integer, Row, bindparam, case, cast, func, or_, select, update
from sqlmodel import Session

from store.db import insert
from store.models import Contact, SopTask, TaskStatus

T = SopTask.__table__
C = Contact.__table__
SENT_TO_HER = "sent to her"  # the detail of a task whose message went to her (or a group)
# the contact a task's target c:<contact id> names (NULL for g:<chat id>; CASE keeps
# PostgreSQL from casting a chat id)
TARGET_CONTACT = case((T.c.target.like("c:%"), cast(func.substr(T.c.target, 3), Integer)))
UNSENT = "unsent"  # a mass send's result while her advisor has not confirmed it


def insert_new(connection: Connection, rows: list[dict]) -> int:
    """Insert task rows; a (sop, step, target, trigger) already planned is left as it is.
    Returns how many rows were offered."""
    if not rows:
        return 0
    statement = insert(connection, T).on_conflict_do_nothing(
        index_elements=["sop_id", "step_id", "target", "trigger_key"]
    )
    connection.execute(statement, rows)
    return len(rows)


def count(connection: Connection, sop_id: str) -> int:
    return connection.execute(select(func.count()).where(T.c.sop_id == sop_id)).scalar_one()


def pending_timed(connection: Connection, sop_id: str) -> Sequence[Row]:
    """(id, step_id, trigger_at, due_at) of an SOP's pending tasks never tried yet."""
    return connection.execute(
        select(T.c.id, T.c.step_id, T.c.trigger_at, T.c.due_at)
        .where(T.c.sop_id == sop_id, T.c.status == TaskStatus.PENDING, T.c.attempts == 0,
               T.c.trigger_at.is_not(None))
    ).all()  # fmt: skip


def retime(connection: Connection, moves: list[dict], now: datetime) -> None:
    """moves: {"task_id", "new_due"} each."""
    if moves:
        connection.execute(
            update(T).where(T.c.id == bindparam("task_id"))
            .values(due_at=bindparam("new_due"), updated_at=now),
            moves,
        )  # fmt: skip


def running_sequences(connection: Connection, sop_id: str) -> Sequence[Row]:
    """(target, trigger_key, trigger_at) of an SOP's sequences with a step still to come."""
    live = T.c.status.in_([TaskStatus.PENDING, TaskStatus.QUEUED])
    return connection.execute(
        select(T.c.target, T.c.trigger_key, T.c.trigger_at)
        .where(T.c.sop_id == sop_id, T.c.trigger_at.is_not(None), live)
        .group_by(T.c.target, T.c.trigger_key, T.c.trigger_at)
    ).all()  # fmt: skip


def cancel_pending(
    connection: Connection, target: str, reason: str, now: datetime, sop_id: str | None = None,
    trigger_keys: Sequence[str] | None = None,
) -> int:  # fmt: skip
    """Cancel a target's pending tasks (of one SOP, or of some trigger occurrences, or all);
    returns how many."""
    condition = (T.c.target == target) & (T.c.status == TaskStatus.PENDING)
    if sop_id is not None:
        condition &= T.c.sop_id == sop_id
    if trigger_keys is not None:
        condition &= T.c.trigger_key.in_(list(trigger_keys))
    return connection.execute(
        update(T).where(condition)
        .values(status=TaskStatus.CANCELLED, detail=reason, updated_at=now)
    ).rowcount  # fmt: skip


def carry_over_sent(
    connection: Connection, target: str, keys: dict[str, str], now: datetime
) -> int:
    """For each task sent to the target under an old trigger key, a skipped row under its new
    key (old → new), so that planning the new occurrence leaves out what she already got.
    Returns how many were carried over."""
    sent = connection.execute(
        select(T.c.id, T.c.sop_id, T.c.step_id, T.c.trigger_key, T.c.trigger_at, T.c.due_at)
        .where(T.c.target == target, T.c.status == TaskStatus.SENT,
               T.c.trigger_key.in_(list(keys)))
    ).all()  # fmt: skip
    rows = [
        {"sop_id": row.sop_id, "step_id": row.step_id, "target": target,
         "trigger_key": keys[row.trigger_key], "trigger_at": row.trigger_at, "due_at": row.due_at,
         "status": TaskStatus.SKIPPED, "attempts": 0,
         "detail": f"sent before the correction (task {row.id})", "created_at": now,
         "updated_at": now}
        for row in sent
    ]  # fmt: skip
    return insert_new(connection, rows)


def requeue_stale(connection: Connection, queued_before: datetime, max_requeues: int,
                  now: datetime) -> int:  # fmt: skip
    """Tasks queued before `queued_before` whose job never finished them go back to pending
    (or fail after max_requeues); returns how many went back."""
    stale = (T.c.status == TaskStatus.QUEUED) & (T.c.updated_at < queued_before)
    connection.execute(
        update(T).where(stale, T.c.attempts + 1 >= max_requeues)
        .values(status=TaskStatus.FAILED, detail="its job failed repeatedly", updated_at=now)
    )  # fmt: skip
    return connection.execute(
        update(T).where(stale)
        .values(status=TaskStatus.PENDING, attempts=T.c.attempts + 1, updated_at=now)
    ).rowcount  # fmt: skip


def due(connection: Connection, now: datetime, limit: int) -> Sequence[Row]:
    """(id, sop_id, step_id, target) of pending tasks due by now, oldest first."""
    return connection.execute(
        select(T.c.id, T.c.sop_id, T.c.step_id, T.c.target)
        .where(T.c.status == TaskStatus.PENDING, T.c.due_at <= now)
        .order_by(T.c.due_at, T.c.id).limit(limit)
    ).all()  # fmt: skip


def defer(connection: Connection, ids: list[int], until: datetime, now: datetime) -> int:
    """Move still-pending tasks to `until`; returns how many."""
    return connection.execute(
        update(T).where(T.c.id.in_(ids), T.c.status == TaskStatus.PENDING)
        .values(due_at=until, updated_at=now)
    ).rowcount  # fmt: skip


def mark_queued(connection: Connection, ids: list[int], now: datetime) -> list[int]:
    """Mark still-pending tasks queued; the ids this call moved (another tick may have taken
    some meanwhile), sorted."""
    return sorted(connection.execute(
        update(T).where(T.c.id.in_(ids), T.c.status == TaskStatus.PENDING)
        .values(status=TaskStatus.QUEUED, updated_at=now).returning(T.c.id)
    ).scalars())  # fmt: skip


def status_counts(connection: Connection) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per SOP: tasks by status, and how many distinct targets it has."""
    by_sop: dict[str, dict[str, int]] = {}
    rows = connection.execute(
        select(T.c.sop_id, T.c.status, func.count()).group_by(T.c.sop_id, T.c.status)
    )
    for sop_id, status, n in rows:
        by_sop.setdefault(sop_id, {})[status] = n
    targets = dict(connection.execute(
        select(T.c.sop_id, func.count(T.c.target.distinct())).group_by(T.c.sop_id)
    ).all())  # fmt: skip
    return by_sop, targets


def by_ids(session: Session, ids: Sequence[int]) -> list[SopTask]:
    """The tasks with these ids (as objects; missing ids left out)."""
    found: list[SopTask] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        found += session.scalars(select(SopTask).where(SopTask.id.in_(chunk)))
    return found


def next_due(connection: Connection) -> tuple[datetime | None, int]:
    """When the next pending task is due, and how many are pending."""
    row = connection.execute(
        select(func.min(T.c.due_at), func.count()).where(T.c.status == TaskStatus.PENDING)
    ).one()
    return row[0], row[1]


def count_status(connection: Connection, status: str) -> int:
    return connection.execute(select(func.count()).where(T.c.status == status)).scalar_one()


def of_target(connection: Connection, target: str, limit: int) -> tuple[list[Row], list[Row]]:
    """A target's steps done (sent, skipped, failed: newest first) and still to come (pending
    or queued: soonest first), at most `limit` of each."""
    t = SopTask.__table__
    columns = (t.c.sop_id, t.c.step_id, t.c.status, t.c.due_at, t.c.updated_at)
    done = connection.execute(
        select(*columns).where(t.c.target == target, t.c.status.in_(
            [TaskStatus.SENT, TaskStatus.SKIPPED, TaskStatus.FAILED]))
        .order_by(t.c.updated_at.desc()).limit(limit)
    ).all()  # fmt: skip
    coming = connection.execute(
        select(*columns).where(t.c.target == target, t.c.status.in_(
            [TaskStatus.PENDING, TaskStatus.QUEUED]))
        .order_by(t.c.due_at).limit(limit)
    ).all()  # fmt: skip
    return list(done), list(coming)


def mass_sends_to_read(connection: Connection, since: datetime) -> Sequence[Row]:
    """(id, msgid, target in WeCom: her external_userid or the group's chat id) of the mass
    sends handed over since then whose advisor had not confirmed them when last read."""
    target = func.coalesce(C.c.external_userid, func.substr(T.c.target, 3))
    query = (select(T.c.id, T.c.msgid, target)
             .select_from(T.outerjoin(C, C.c.id == TARGET_CONTACT))
             .where(T.c.msgid.is_not(None), T.c.status == TaskStatus.SENT,
                    T.c.updated_at >= since,
                    or_(T.c.mass_result.is_(None), T.c.mass_result == UNSENT)))  # fmt: skip
    return connection.execute(query).all()


def set_mass_results(connection: Connection, results: dict[int, str]) -> None:
    """Where each task's mass send got to, as WeCom said (its updated_at, when it was handed
    over, stays)."""
    if results:
        connection.execute(
            update(T).where(T.c.id == bindparam("task_id")).values(mass_result=bindparam("result")),
            [{"task_id": task_id, "result": result} for task_id, result in results.items()],
        )
