"""Carrying out due SOP tasks: check conditions and exit rules, keep the daily cap, send, record.

A task is sent at most once: its key is claimed in the delivery ledger before anything goes to
WeCom. A text to a mother goes through the welcome bot when its 48 h window is open; otherwise
it becomes a 1:1 mass-send task (add_msg_template) that her advisor confirms in WeCom, which is
the only way WeCom lets an app reach a customer unprompted. Transient WeCom errors put the task
back with a backoff; after five attempts it fails, visibly (`mombot sop status`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select, update

from bot import runtime as runtime_module
from bot.wecom import WeComError, is_transient
from handlers import kf, staff, tags
from handlers.context import Context
from handlers.dialog import responsible
from sop import playbook
from sop.playbook import Sop, Step
from store import deliveries
from store import kf as kf_store
from store.db import session
from store.models import Contact, ContactStatus, DeliveryStatus, SopTask, TaskStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CUSTOMER_FACING = {"send_text", "send_link", "send_image", "send_miniprogram", "mass_send"}
TO_HER = "sent to her"  # detail of a sent customer-facing task: what the daily cap counts


def execute(*task_ids: int) -> dict[str, int]:
    """rq job: carry out these queued tasks; returns how many ended in each status."""
    runtime = runtime_module.current()
    sops = {sop.id: sop for sop in playbook.configured(runtime.settings)}
    outcome: dict[str, int] = {}
    with session(runtime.engine) as s:
        ctx = Context(s, runtime)
        for task_id in task_ids:
            task = s.get(SopTask, task_id)
            if task is None or task.status != TaskStatus.QUEUED:
                continue
            status = _carry_out(ctx, task, sops.get(task.sop_id))
            outcome[status] = outcome.get(status, 0) + 1
    return outcome


def _finish(ctx: Context, task: SopTask, status: str, detail: str = "") -> str:
    task.status, task.detail, task.updated_at = status, detail[:512], ctx.clock.now()
    ctx.session.add(task)
    ctx.session.commit()
    return status


def _cancel_rest(ctx: Context, task: SopTask, reason: str) -> None:
    table = SopTask.__table__
    ctx.session.connection().execute(
        update(table)
        .where(table.c.sop_id == task.sop_id, table.c.target == task.target,
               table.c.status == TaskStatus.PENDING)
        .values(status=TaskStatus.CANCELLED, detail=reason, updated_at=ctx.clock.now())
    )  # fmt: skip


def _sent_today(ctx: Context, task: SopTask) -> int:
    local_midnight = ctx.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    table = SopTask.__table__
    return ctx.session.connection().execute(
        select(func.count()).where(
            table.c.target == task.target, table.c.status == TaskStatus.SENT,
            table.c.updated_at >= local_midnight, table.c.detail == TO_HER,
        )
    ).scalar_one()  # fmt: skip


def _carry_out(ctx: Context, task: SopTask, sop: Sop | None) -> str:
    step = next((s for s in sop.steps if s.id == task.step_id), None) if sop else None
    if sop is None or step is None or not sop.enabled:
        return _finish(ctx, task, TaskStatus.CANCELLED, "no longer in the playbook")
    contact = ctx.session.get(Contact, int(task.target.removeprefix("c:")))
    if contact is None:
        return _finish(ctx, task, TaskStatus.CANCELLED, "contact deleted")
    exit_reason = _exit_reason(sop, contact)
    if exit_reason:
        _cancel_rest(ctx, task, exit_reason)
        return _finish(ctx, task, TaskStatus.CANCELLED, exit_reason)
    skip = _skip_reason(ctx, sop, contact)
    if skip:
        return _finish(ctx, task, TaskStatus.SKIPPED, skip)
    if step.action in CUSTOMER_FACING and _sent_today(ctx, task) >= ctx.settings.sop.daily_cap:
        task.status, task.due_at = TaskStatus.PENDING, task.due_at + timedelta(days=1)
        return _finish(ctx, task, TaskStatus.PENDING, "daily cap reached: moved to tomorrow")
    key = f"sop:{task.id}"
    if not deliveries.claim(ctx.session, key, "sop", task.target, ctx.clock.now()):
        return _finish(ctx, task, TaskStatus.SENT, "already handed over")
    try:
        refused = _act(ctx, sop, step, contact, key)
    except WeComError as exc:
        ctx.session.rollback()
        if is_transient(exc) and task.attempts + 1 < MAX_ATTEMPTS:
            deliveries.release(ctx.session, key)  # the request never got an answer: try again
            task.attempts += 1
            task.due_at = ctx.clock.now() + timedelta(minutes=5 * 2**task.attempts)
            return _finish(ctx, task, TaskStatus.PENDING, f"retrying: {exc}")
        deliveries.finish(ctx.session, key, DeliveryStatus.FAILED, str(exc), ctx.clock.now())
        return _finish(ctx, task, TaskStatus.FAILED, str(exc))
    status = TaskStatus.SKIPPED if refused else TaskStatus.SENT
    task.status, task.updated_at = status, ctx.clock.now()
    task.detail = refused or (TO_HER if step.action in CUSTOMER_FACING else step.action)
    ctx.session.add(task)  # committed with the ledger's outcome, in one transaction
    ledger = DeliveryStatus.SKIPPED if refused else DeliveryStatus.SENT
    deliveries.finish(ctx.session, key, ledger, refused, ctx.clock.now())
    return status


def _exit_reason(sop: Sop, contact: Contact) -> str:
    if sop.exit.opted_out and contact.opted_out:
        return "opted out"
    if sop.exit.status_changed and contact.status in (ContactStatus.SIGNED, ContactStatus.LOST):
        return f"status {contact.status}"
    if sop.exit.contact_deleted and contact.status == ContactStatus.LOST:
        return "she left"
    stage_sop = sop.trigger.type == "stage_entered"
    if sop.exit.stage_changed and stage_sop and contact.stage != sop.trigger.stage:
        return f"stage is now {contact.stage or 'unknown'}"
    return ""


def _skip_reason(ctx: Context, sop: Sop, contact: Contact) -> str:
    conditions = sop.conditions
    if contact.status in conditions.skip_statuses:
        return f"status {contact.status}"
    if conditions.skip_opted_out and contact.opted_out:
        return "opted out"
    return ""


def _text_of(step: Step) -> str:
    if step.action == "send_link":
        return f"{step.title}\n{step.desc}\n{step.url}".replace("\n\n", "\n")
    return step.text or step.title


def _act(ctx: Context, sop: Sop, step: Step, contact: Contact, key: str) -> str:
    """Do the step; "" when done, else why WeCom would not take it (not worth retrying)."""
    if step.action == "advisor_task":
        name = contact.name or "未命名客户"
        for userid in responsible(ctx, contact):
            staff.notify(
                ctx, f"{key}:{userid}", userid, f"【SOP】{sop.name}\n客户：{name}\n{step.text}"
            )
        return
    if step.action in ("add_tag", "remove_tag"):
        ids = tags.ensure(ctx.session, ctx.wecom("contact"), ctx.settings.sop.tag_group, [step.tag])
        field = "add_tag" if step.action == "add_tag" else "remove_tag"
        ctx.wecom("contact").post("externalcontact/mark_tag", json={
            "userid": contact.owner_userid, "external_userid": contact.external_userid,
            field: list(ids.values()),
        })  # fmt: skip
        return ""
    talk = kf_store.find_dialog(ctx.session, contact.external_userid)
    if step.action != "mass_send" and talk is not None and kf.window_open(ctx, talk):
        kf.say(ctx, contact, talk, _text_of(step), f"{key}:kf")
        return ""
    body: dict = {
        "chat_type": "single",
        "external_userid": [contact.external_userid],
        "sender": contact.owner_userid,
        "text": {"content": step.text or step.title},
    }
    if step.action == "send_link":
        link = {"title": step.title, "url": step.url, "desc": step.desc}
        body["attachments"] = [{"msgtype": "link", "link": {k: v for k, v in link.items() if v}}]
    answer = ctx.wecom("contact").post("externalcontact/add_msg_template", json=body)
    if contact.external_userid in answer.get("fail_list", []):
        return "her monthly mass-send quota is used up"
    return ""
