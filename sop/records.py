"""What the executors write on a task: its outcome, a retry after a transient WeCom error, the
cancellation of the steps still to come."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.wecom import WeComError, is_transient
from handlers.context import Context
from sop.playbook import Sop, Step
from store import deliveries
from store.models import DeliveryStatus, SopTask, TaskStatus

MAX_ATTEMPTS = 5
TO_THEM = "sent to her"  # detail of a sent customer-facing task
T = SopTask.__table__


def step_of(sop: Sop | None, task: SopTask) -> Step | None:
    """The task's step as the playbook has it now; None once the SOP or step is gone."""
    if sop is None or not sop.enabled:
        return None
    return next((step for step in sop.steps if step.id == task.step_id), None)


def finish(ctx: Context, task: SopTask, status: str, detail: str = "") -> str:
    task.status, task.detail, task.updated_at = status, detail[:512], ctx.clock.now()
    ctx.session.add(task)
    ctx.session.commit()
    return status


def cancel_rest(ctx: Context, task: SopTask, reason: str) -> None:
    ctx.session.connection().execute(
        update(T)
        .where(T.c.sop_id == task.sop_id, T.c.target == task.target,
               T.c.status == TaskStatus.PENDING)
        .values(status=TaskStatus.CANCELLED, detail=reason, updated_at=ctx.clock.now())
    )  # fmt: skip


def take_slot(ctx: Context, target: str, cap: int) -> str | None:
    """One of the target's `cap` customer-facing sends for today, claimed in the ledger, so two
    workers cannot both take the last one; None when all are taken. A slot whose send does not
    happen is given back (`done`, `failed_call`)."""
    day = ctx.clock.now().date()
    for n in range(cap):
        key = f"cap:{target}:{day}:{n}"
        if deliveries.claim(ctx.session, key, "cap", target, ctx.clock.now()):
            return key
    return None


def to_tomorrow(ctx: Context, task: SopTask, why: str) -> str:
    task.due_at = task.due_at + timedelta(days=1)
    return finish(ctx, task, TaskStatus.PENDING, f"{why}: moved to tomorrow")


def failed_call(
    ctx: Context, task: SopTask, key: str, exc: WeComError, slot: str | None = None
) -> str:
    """After a WeCom error: a transient one puts the task back with a backoff (its ledger key is
    released: the request got no answer), a permanent one, or too many, fails it."""
    ctx.session.rollback()
    if slot:
        deliveries.release(ctx.session, slot)
    if is_transient(exc) and task.attempts + 1 < MAX_ATTEMPTS:
        deliveries.release(ctx.session, key)
        task.attempts += 1
        task.due_at = ctx.clock.now() + timedelta(minutes=5 * 2**task.attempts)
        return finish(ctx, task, TaskStatus.PENDING, f"retrying: {exc}")
    deliveries.finish(ctx.session, key, DeliveryStatus.FAILED, str(exc), ctx.clock.now())
    return finish(ctx, task, TaskStatus.FAILED, str(exc))


def done(
    ctx: Context, task: SopTask, key: str, refused: str, detail: str, slot: str | None = None
) -> str:
    """Record the outcome with the ledger's, in one transaction."""
    status = TaskStatus.SKIPPED if refused else TaskStatus.SENT
    task.status, task.updated_at, task.detail = status, ctx.clock.now(), (refused or detail)[:512]
    ctx.session.add(task)
    ledger = DeliveryStatus.SKIPPED if refused else DeliveryStatus.SENT
    deliveries.finish(ctx.session, key, ledger, refused, ctx.clock.now())
    if slot and refused:
        deliveries.release(ctx.session, slot)
    elif slot:
        deliveries.finish(ctx.session, slot, DeliveryStatus.SENT, key, ctx.clock.now())
    return status
