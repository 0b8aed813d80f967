"""Turning triggers into task rows: one row per (SOP, step, target, trigger occurrence), with
its due moment in the configured time zone. Planning the same trigger twice changes nothing
(a unique index), so re-running a refresh or a handler never repeats a step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sop.playbook import Sop
from store.models import SopTask, TaskStatus

T = SopTask.__table__


def contact_target(contact_id: int) -> str:
    return f"c:{contact_id}"


def _rows(
    sop: Sop, target: str, trigger_key: str, start: date, tz: tzinfo, now: datetime
) -> Iterable[dict]:
    for step in sop.steps:
        if step.immediate:
            due = now
        else:
            due = datetime.combine(
                start + timedelta(days=step.day), time.fromisoformat(step.at), tz
            )
        yield {
            "sop_id": sop.id, "step_id": step.id, "target": target, "trigger_key": trigger_key,
            "due_at": due, "status": TaskStatus.PENDING, "attempts": 0, "detail": "",
            "created_at": now, "updated_at": now,
        }  # fmt: skip


def _insert(connection: Connection, rows: list[dict]) -> int:
    if not rows:
        return 0
    maker = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = maker(T).on_conflict_do_nothing(
        index_elements=["sop_id", "step_id", "target", "trigger_key"]
    )
    connection.execute(statement, rows)
    return len(rows)


def plan_stage_entered(
    connection: Connection,
    sops: Sequence[Sop],
    entered: Iterable[tuple[int, str, date]],
    tz: tzinfo,
    now: datetime,
) -> int:
    """Tasks for contacts that entered a stage: (contact id, stage, day) each."""
    by_stage: dict[str, list[Sop]] = {}
    for sop in sops:
        if sop.enabled and sop.target == "contact" and sop.trigger.type == "stage_entered":
            by_stage.setdefault(sop.trigger.stage, []).append(sop)
    rows = [
        row
        for contact_id, stage, day in entered
        for sop in by_stage.get(stage, [])
        for row in _rows(sop, contact_target(contact_id), f"stage:{stage}:{day}", day, tz, now)
    ]
    return _insert(connection, rows)


def plan_contact_added(
    connection: Connection, sops: Sequence[Sop], contact_id: int, channel: str, day: date,
    tz: tzinfo, now: datetime,
) -> int:  # fmt: skip
    rows = [
        row
        for sop in sops
        if sop.enabled and sop.trigger.type == "contact_added"
        and sop.trigger.channel in ("", channel)
        for row in _rows(sop, contact_target(contact_id), f"added:{day}", day, tz, now)
    ]  # fmt: skip
    return _insert(connection, rows)


def plan_anchors(
    connection: Connection,
    sops: Sequence[Sop],
    contact_id: int,
    anchors: dict[str, date | None],
    tz: tzinfo,
    now: datetime,
) -> int:
    """Tasks counted from her due date or her baby's birthday; steps already past are left
    out (a date told late does not send last month's messages)."""
    rows = []
    for sop in sops:
        anchor = anchors.get(sop.trigger.anchor) if sop.trigger.type == "anchor" else None
        if not sop.enabled or anchor is None:
            continue
        start = anchor + timedelta(days=sop.trigger.offset_days)
        key = f"anchor:{sop.trigger.anchor}:{anchor}"
        rows += [r for r in _rows(sop, contact_target(contact_id), key, start, tz, now)
                 if r["due_at"] >= now]  # fmt: skip
    return _insert(connection, rows)
