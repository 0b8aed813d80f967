"""What the executors write on a task: its outcome, a retry after a transient WeCom error, the
cancellation of the steps still to come."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from bot.wecom import WeComError, is_transient
from handlers.context import Context
from sop.playbook import Sop, Step
from store import deliveries
from store.models import DeliveryStatus, SopTask, TaskStatus

MAX_ATTEMPTS = 5
TO_THEM = "sent to her"  # detail of a sent customer-facing task: what the daily caps count
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


def sent_today(ctx: Context, target: str) -> int:
    """Customer-facing steps sent to a target since local midnight."""
    local_midnight = ctx.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return ctx.session.connection().execute(
        select(func.count()).where(
            T.c.target == target, T.c.status == TaskStatus.SENT,
            T.c.updated_at >= local_midnight, T.c.detail == TO_THEM,
        )
    ).scalar_one()  # fmt: skip


def to_tomorrow(ctx: Context, task: SopTask, why: str) -> str:
    task.due_at = task.due_at + timedelta(days=1)
    return finish(ctx, task, TaskStatus.PENDING, f"{why}: moved to tomorrow")


def failed_call(ctx: Context, task: SopTask, key: str, exc: WeComError) -> str:
    """After a WeCom error: a transient one puts the task back with a backoff (its ledger key is
    released: the request got no answer), a permanent one, or too many, fails it."""
    ctx.session.rollback()
    if is_transient(exc) and task.attempts + 1 < MAX_ATTEMPTS:
        deliveries.release(ctx.session, key)
        task.attempts += 1
        task.due_at = ctx.clock.now() + timedelta(minutes=5 * 2**task.attempts)
        return finish(ctx, task, TaskStatus.PENDING, f"retrying: {exc}")
    deliveries.finish(ctx.session, key, DeliveryStatus.FAILED, str(exc), ctx.clock.now())
    return finish(ctx, task, TaskStatus.FAILED, str(exc))


def done(ctx: Context, task: SopTask, key: str, refused: str, detail: str) -> str:
    """Record the outcome with the ledger's, in one transaction."""
    status = TaskStatus.SKIPPED if refused else TaskStatus.SENT
    task.status, task.updated_at, task.detail = status, ctx.clock.now(), (refused or detail)[:512]
    ctx.session.add(task)
    ledger = DeliveryStatus.SKIPPED if refused else DeliveryStatus.SENT
    deliveries.finish(ctx.session, key, ledger, refused, ctx.clock.now())
    return status
