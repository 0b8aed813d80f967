"""The tick (every minute, from the worker's ticker): today's scheduled group posts are planned,
an edited playbook is applied to the sequences already running, then due tasks go to the bulk
queue in batches; during quiet hours they are moved to the end of the quiet hours instead.

A dry run does all of that in a transaction it rolls back, and tells per due task what would
come of it (`sop.preview`): sent, deferred, capped, cancelled or skipped, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlmodel import Session

from crm.config import SopSettings
from crm.context import BULK, Context
from sop import planner, playbook, preview
from sop.executor import execute
from store import sop_tasks

BATCH = 5000
JOB_SIZE = 50
# A task queued this long ago whose job never finished it (the job failed, or Redis lost it)
# is queued again; the delivery ledger keeps a send that did happen from happening twice.
STALE_QUEUED = timedelta(minutes=15)
MAX_REQUEUES = 5


def quiet(moment: datetime, rules: SopSettings) -> bool:
    start, end = time.fromisoformat(rules.quiet_start), time.fromisoformat(rules.quiet_end)
    now = moment.time()
    return (now >= start or now < end) if start > end else start <= now < end


def quiet_ends(moment: datetime, rules: SopSettings) -> datetime:
    """The first moment at or after `moment` outside quiet hours."""
    if not quiet(moment, rules):
        return moment
    end = datetime.combine(moment.date(), time.fromisoformat(rules.quiet_end), moment.tzinfo)
    return end if end > moment else end + timedelta(days=1)


@dataclass
class TickReport:
    at: datetime
    due: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, sop, step, target
    queued: int = 0
    deferred: int = 0
    planned: int = 0  # scheduled group posts planned by this tick
    requeued: int = 0  # queued tasks whose job never finished them
    edited: list[str] = field(default_factory=list)  # SOPs whose edits were applied
    outcomes: list[preview.Outcome] = field(default_factory=list)  # a dry run's, per due task


FINGERPRINTS = "mombot:sop:fingerprints"  # Redis hash: sop id → fingerprint last applied


def _apply_edits(ctx: Context, connection, sops, now: datetime) -> tuple[dict[str, str], list[str]]:
    """Re-time and extend the running sequences of SOPs edited since the last tick; returns the
    fingerprints to remember once this is committed, and the SOPs edited."""
    seen = ctx.redis.hgetall(FINGERPRINTS)
    marks, edited = {}, []
    for sop in sops:
        mark = planner.fingerprint(sop)
        before = seen.get(sop.id.encode())
        if before is not None and before.decode() != mark:
            planner.apply_edit(connection, sop, ctx.settings.tz, now)
            edited.append(sop.id)
        if before != mark.encode():
            marks[sop.id] = mark
    return marks, edited


def _scheduled_key(sop, now: datetime) -> str:
    return f"mombot:sop:scheduled:{sop.id}:{planner.fingerprint(sop)}:{now.date()}"


def _unplanned_schedules(ctx: Context, sops, now: datetime, dry_run: bool) -> list:
    """Scheduled SOPs whose posts for today are not planned yet (once a day, and again after an
    edit; groups made later in the day are planned by their own callback or by a sync)."""
    scheduled = [sop for sop in sops if sop.trigger.type == "schedule"]
    if dry_run:
        return scheduled
    return [sop for sop in scheduled if not ctx.redis.exists(_scheduled_key(sop, now))]


def tick(ctx: Context, now: datetime | None = None, dry_run: bool = False) -> TickReport:
    now = (now or ctx.clock.now()).astimezone(ctx.settings.tz)
    rules = ctx.settings.sop
    report = TickReport(now)
    sops = playbook.configured(ctx.settings)
    with ctx.engine.connect() as connection:
        transaction = connection.begin()  # a dry run rolls back what planning wrote
        unplanned = _unplanned_schedules(ctx, sops, now, dry_run)
        report.planned = planner.plan_schedules(connection, unplanned, now.date(),
                                                ctx.settings.tz, now)  # fmt: skip
        marks, report.edited = _apply_edits(ctx, connection, sops, now)
        report.requeued = sop_tasks.requeue_stale(connection, now - STALE_QUEUED, MAX_REQUEUES,
                                                  now)  # fmt: skip
        rows = sop_tasks.due(connection, now, BATCH)
        report.due = [tuple(row) for row in rows]
        ids = [row.id for row in rows]
        deferred_until = quiet_ends(now, rules) if ids and quiet(now, rules) else None
        if dry_run:
            with Session(bind=connection) as session:  # sees what this transaction planned
                report.outcomes = preview.outcomes(session, ctx.settings, sops, ids, now,
                                                   JOB_SIZE, deferred_until)  # fmt: skip
            report.deferred = len(ids) if deferred_until else 0
            transaction.rollback()
            return report
        if deferred_until is not None:
            report.deferred = sop_tasks.defer(connection, ids, deferred_until, now)
            ids = []
        if ids:  # only what this tick moved: another tick may have taken some meanwhile
            ids = sop_tasks.mark_queued(connection, ids, now)
        transaction.commit()
    for sop_id, mark in marks.items():  # applied: remembered once committed
        ctx.redis.hset(FINGERPRINTS, sop_id, mark)
    for sop in unplanned:
        ctx.redis.set(_scheduled_key(sop, now), 1, ex=2 * 24 * 3600)
    chunks = [tuple(ids[i : i + JOB_SIZE]) for i in range(0, len(ids), JOB_SIZE)]
    ctx.services.enqueue_many(BULK, execute, chunks)
    report.queued = len(ids)
    return report
