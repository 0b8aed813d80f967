"""Turning triggers into task rows: one row per (SOP, step, target, trigger occurrence), with
its due moment in the configured time zone. Planning the same trigger twice changes nothing
(a unique index), so re-running a refresh or a handler never repeats a step.

Each row keeps the moment its steps count from (`trigger_at`), so an edited playbook can
re-time the steps still to come and add new steps to sequences already running.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import Connection

from sop.playbook import Sop, Step
from store import groups, sop_tasks
from store.models import CustomerGroup, TaskStatus


def contact_target(contact_id: int) -> str:
    return f"c:{contact_id}"


def group_target(chat_id: str) -> str:
    return f"g:{chat_id}"


def stage_key(stage: str, episode: str) -> str:
    return f"stage:{stage}:{episode}"


def anchor_key(anchor: str, day: date) -> str:
    return f"anchor:{anchor}:{day}"


def midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tz)


def due_at(step: Step, trigger_at: datetime, tz: tzinfo, now: datetime) -> datetime:
    if step.immediate:
        return now
    if step.minutes is not None:
        return trigger_at + timedelta(minutes=step.minutes)
    start = trigger_at.astimezone(tz).date() + timedelta(days=step.day)
    return datetime.combine(start, time.fromisoformat(step.at), tz)


def _rows(
    sop: Sop, target: str, trigger_key: str, trigger_at: datetime, tz: tzinfo, now: datetime,
    future_only: bool = False, not_before: datetime | None = None,
) -> Iterable[dict]:  # fmt: skip
    not_before = now if future_only else not_before
    for step in sop.steps:
        due = due_at(step, trigger_at, tz, now)
        if not_before is not None and due < not_before:
            continue
        yield {
            "sop_id": sop.id, "step_id": step.id, "target": target, "trigger_key": trigger_key,
            "trigger_at": trigger_at, "due_at": due, "status": TaskStatus.PENDING, "attempts": 0,
            "detail": "", "created_at": now, "updated_at": now,
        }  # fmt: skip


def plan(
    connection: Connection, sop: Sop, target: str, trigger_key: str, trigger_at: datetime,
    tz: tzinfo, now: datetime,
) -> int:  # fmt: skip
    """One occurrence of one SOP's trigger for one target."""
    return plan_each(connection, sop, [(target, trigger_key, trigger_at)], tz, now)


def plan_each(
    connection: Connection, sop: Sop, occurrences: Sequence[tuple[str, str, datetime]],
    tz: tzinfo, now: datetime,
) -> int:  # fmt: skip
    """Occurrences (target, trigger key, trigger time) of one SOP's trigger, in one insert."""
    return sop_tasks.insert_new(connection, [
        row for target, key, at in occurrences for row in _rows(sop, target, key, at, tz, now)
    ])  # fmt: skip


def _enabled(sops: Sequence[Sop], target: str, trigger: str) -> list[Sop]:
    return [s for s in sops if s.enabled and s.target == target and s.trigger.type == trigger]


def plan_stage_entered(
    connection: Connection,
    sops: Sequence[Sop],
    entered: Iterable[tuple[int, str, date, str]],
    tz: tzinfo,
    now: datetime,
) -> int:
    """Tasks for contacts that entered a stage: (contact id, stage, day, episode) each; once
    per stage and episode (crm.stages.episode)."""
    by_stage: dict[str, list[Sop]] = {}
    for sop in _enabled(sops, "contact", "stage_entered"):
        by_stage.setdefault(sop.trigger.stage, []).append(sop)
    rows = [
        row
        for contact_id, stage, day, episode in entered
        for sop in by_stage.get(stage, [])
        for row in _rows(
            sop, contact_target(contact_id), stage_key(stage, episode), midnight(day, tz), tz, now
        )
    ]
    return sop_tasks.insert_new(connection, rows)


def plan_contact_added(
    connection: Connection, sops: Sequence[Sop], contact_id: int, channel: str,
    added_at: datetime, tz: tzinfo, now: datetime,
) -> int:  # fmt: skip
    key = f"added:{added_at.astimezone(tz).date()}"
    rows = [
        row
        for sop in _enabled(sops, "contact", "contact_added")
        if sop.trigger.channel in ("", channel)
        for row in _rows(sop, contact_target(contact_id), key, added_at, tz, now)
    ]
    return sop_tasks.insert_new(connection, rows)


def plan_tag_added(
    connection: Connection, sops: Sequence[Sop], contact_id: int, names: Iterable[str],
    tz: tzinfo, now: datetime,
) -> int:  # fmt: skip
    """Tasks for tags she was just given (by name); once per tag and day."""
    added = set(names)
    rows = [
        row
        for sop in _enabled(sops, "contact", "tag_added")
        if sop.trigger.tag in added
        for row in _rows(sop, contact_target(contact_id),
                         f"tag:{sop.trigger.tag}:{now.astimezone(tz).date()}", now, tz, now)
    ]  # fmt: skip
    return sop_tasks.insert_new(connection, rows)


def plan_tier_entered(
    connection: Connection, sops: Sequence[Sop], entered: Iterable[tuple[int, str, date]],
    tz: tzinfo, now: datetime,
) -> int:  # fmt: skip
    """Tasks for contacts that entered a value tier: (contact id, tier, since) each; once per
    tier and day she entered it."""
    by_tier: dict[str, list[Sop]] = {}
    for sop in _enabled(sops, "contact", "tier_entered"):
        by_tier.setdefault(sop.trigger.tier, []).append(sop)
    rows = [
        row
        for contact_id, tier, since in entered
        for sop in by_tier.get(tier, [])
        for row in _rows(sop, contact_target(contact_id), f"tier:{tier}:{since}", now, tz, now)
    ]
    return sop_tasks.insert_new(connection, rows)


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
    for sop in _enabled(sops, "contact", "anchor"):
        anchor = anchors.get(sop.trigger.anchor)
        if anchor is None:
            continue
        start = midnight(anchor + timedelta(days=sop.trigger.offset_days), tz)
        key = anchor_key(sop.trigger.anchor, anchor)
        rows += _rows(sop, contact_target(contact_id), key, start, tz, now, future_only=True)
    return sop_tasks.insert_new(connection, rows)


def plan_group_joined(
    connection: Connection, sops: Sequence[Sop], group: CustomerGroup,
    joins: Iterable[tuple[str, datetime]], tz: tzinfo, now: datetime,
) -> int:  # fmt: skip
    """Tasks for customers who joined a group: (external userid, joined at) each."""
    fitting = [s for s in _enabled(sops, "group", "group_member_joined")
               if s.groups.matches(group.name, group.owner_userid)]  # fmt: skip
    rows = [
        row
        for member_id, joined_at in joins
        for sop in fitting
        for row in _rows(sop, group_target(group.chat_id),
                         f"joined:{member_id}:{int(joined_at.timestamp())}", joined_at, tz, now)
    ]  # fmt: skip
    return sop_tasks.insert_new(connection, rows)


# A scheduled post is planned up to this long after its time (a tick that came late, a group
# made just after); later than that, today's post is left out rather than sent late.
SCHEDULE_GRACE = timedelta(hours=1)


def fires_on(sop: Sop, day: date) -> bool:
    trigger = sop.trigger
    return trigger.every == "day" or (
        trigger.every == "week" and day.isoweekday() == trigger.weekday
    )


def plan_schedules(
    connection: Connection, sops: Sequence[Sop], day: date, tz: tzinfo, now: datetime,
    chat_id: str | None = None,
) -> int:  # fmt: skip
    """The day's occurrence of scheduled group SOPs, for every group they fit (or one)."""
    due = [s for s in _enabled(sops, "group", "schedule") if fires_on(s, day)]
    if not due:
        return 0
    rows = [
        row
        for sop in due
        for group in groups.active(connection, chat_id)
        if sop.groups.matches(group.name, group.owner_userid)
        for row in _rows(
            sop,
            group_target(group.chat_id),
            f"schedule:{day}",
            midnight(day, tz),
            tz,
            now,
            not_before=now - SCHEDULE_GRACE,
        )
    ]
    return sop_tasks.insert_new(connection, rows)


def fingerprint(sop: Sop) -> str:
    return hashlib.sha256(sop.model_dump_json().encode()).hexdigest()[:16]


def apply_edit(connection: Connection, sop: Sop, tz: tzinfo, now: datetime) -> tuple[int, int]:
    """An edited SOP, for the sequences already running: steps still pending are re-timed,
    new steps are added where they are still ahead. Nothing already sent is repeated (a step
    keeps its id). Returns (re-timed, added)."""
    steps = {step.id: step for step in sop.steps}
    moves = []
    for row in sop_tasks.pending_timed(connection, sop.id):
        step = steps.get(row.step_id)
        if step is None or step.immediate:
            continue
        due = due_at(step, row.trigger_at, tz, now)
        if due != row.due_at and due >= now:
            moves.append({"task_id": row.id, "new_due": due})
    sop_tasks.retime(connection, moves, now)
    sequences = sop_tasks.running_sequences(connection, sop.id)
    timed = sop.model_copy(update={"steps": [s for s in sop.steps if not s.immediate]})
    rows = [
        row
        for target, trigger_key, trigger_at in sequences
        for row in _rows(timed, target, trigger_key, trigger_at, tz, now, future_only=True)
    ]
    before = sop_tasks.count(connection, sop.id)
    sop_tasks.insert_new(connection, rows)
    return len(moves), sop_tasks.count(connection, sop.id) - before
