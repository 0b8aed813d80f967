"""What the executors write on a task: its outcome (from the outbox's), a retry after a
transient WeCom error, the daily-cap slot, the cancellation of the steps still to come."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session

from crm import outbox
from crm.context import Context
from sop.playbook import Sop, Step
from store import deliveries, sop_tasks
from store.models import DeliveryStatus, SopTask, TaskStatus

MAX_ATTEMPTS = 5
TO_THEM = sop_tasks.SENT_TO_HER  # detail of a sent customer-facing task
DAILY_CAP = "daily cap reached"


@dataclass(frozen=True)
class Verdict:
    """What a due task comes to instead of being sent, decided before anything is sent: the
    executors apply it (`apply`), a dry run of the tick reports it."""

    status: str
    reason: str
    rest: bool = False  # the target's other pending steps of the SOP are cancelled too
    tomorrow: bool = False  # back to pending, due a day later


def apply(ctx: Context, task: SopTask, verdict: Verdict) -> str:
    if verdict.rest:
        cancel_rest(ctx, task, verdict.reason)
    if verdict.tomorrow:
        return to_tomorrow(ctx, task, verdict.reason)
    return finish(ctx, task, verdict.status, verdict.reason)


def step_of(sop: Sop | None, task: SopTask) -> Step | None:
    """The task's step as the playbook has it now; None once the SOP or step is gone."""
    if sop is None or not sop.enabled:
        return None
    return next((step for step in sop.steps if step.id == task.step_id), None)


def finish(ctx: Context, task: SopTask, status: str, detail: str = "") -> str:
    _set(ctx, task, status, detail)
    ctx.session.commit()
    return status


def _set(ctx: Context, task: SopTask, status: str, detail: str) -> None:
    task.status, task.detail, task.updated_at = status, detail[:512], ctx.clock.now()
    ctx.session.add(task)


def cancel_rest(ctx: Context, task: SopTask, reason: str) -> None:
    sop_tasks.cancel_pending(ctx.session.connection(), task.target, reason, ctx.clock.now(),
                             sop_id=task.sop_id)  # fmt: skip


def take_slot(ctx: Context, target: str, cap: int) -> str | None:
    """One of the target's `cap` customer-facing sends for today, claimed in the ledger, so two
    workers cannot both take the last one; None when all are taken. The claim commits with the
    send's own claim, which follows at once. A slot whose send does not happen is given back
    (`record`)."""
    day = ctx.clock.now().date()
    for n in range(cap):
        key = _slot(target, day, n)
        if outbox.claim(ctx, key, "cap", target, commit=False):
            return key
    return None


def _slot(target: str, day: date, n: int) -> str:
    return f"cap:{target}:{day}:{n}"


def free_slots(session: Session, targets: Iterable[str], cap: int, day: date) -> dict[str, int]:
    """How many of each target's `cap` slots for `day` are free, read-only: the sends
    `take_slot` would still grant her that day."""
    wanted = {target: [_slot(target, day, n) for n in range(cap)] for target in set(targets)}
    taken = deliveries.existing(session, [key for keys in wanted.values() for key in keys])
    return {target: sum(key not in taken for key in keys) for target, keys in wanted.items()}


def to_tomorrow(ctx: Context, task: SopTask, why: str) -> str:
    task.due_at = task.due_at + timedelta(days=1)
    return finish(ctx, task, TaskStatus.PENDING, f"{why}: moved to tomorrow")


def already_handed_over(ctx: Context, task: SopTask, slot: str | None) -> str:
    """Its key was claimed before: a worker took it and may have sent it."""
    if slot:
        outbox.release(ctx, slot)
    return finish(ctx, task, TaskStatus.SENT, "already handed over")


def record(
    ctx: Context, task: SopTask, outcome: outbox.Outcome, key: str, detail: str,
    slot: str | None = None,
) -> None:  # fmt: skip
    """The task's status from the outbox's outcome for its key (sent, refused, failed, or a
    transient error: back to pending with a backoff, until MAX_ATTEMPTS)."""
    refused = outcome.refused.get(key, "")
    if outcome.status == outbox.RETRY:
        if task.attempts + 1 < MAX_ATTEMPTS:
            task.attempts += 1
            task.due_at = ctx.clock.now() + timedelta(minutes=5 * 2**task.attempts)
            _set(ctx, task, TaskStatus.PENDING, f"retrying: {outcome.detail}")
        else:
            _set(ctx, task, TaskStatus.FAILED, outcome.detail)
    elif outcome.status == DeliveryStatus.FAILED:
        _set(ctx, task, TaskStatus.FAILED, outcome.detail)
    elif refused or outcome.status == DeliveryStatus.SKIPPED:
        _set(ctx, task, TaskStatus.SKIPPED, refused or outcome.detail)
    else:
        _set(ctx, task, TaskStatus.SENT, detail)
    if slot and task.status == TaskStatus.SENT:
        deliveries.finish(ctx.session, slot, DeliveryStatus.SENT, key, ctx.clock.now())
    elif slot:
        outbox.release(ctx, slot)
