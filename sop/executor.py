"""Carrying out due SOP tasks: check conditions and exit rules, keep the daily cap, send, record.

A task is sent at most once: its key is claimed in the delivery ledger before anything goes to
WeCom. A text to a mother goes through the welcome bot when its 48 h window is open; otherwise
it becomes a 1:1 mass-send task (add_msg_template) that her advisor confirms in WeCom, which is
the only way WeCom lets an app reach a customer unprompted. Transient WeCom errors put the task
back with a backoff; after five attempts it fails, visibly (`mombot sop status`). Customer
groups' tasks are carried out by sop.group_executor.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, col, select

from crm import advisors, outbox, pool, tags
from crm.context import Context
from crm.placeholders import render
from sop import group_executor, playbook, records, tagging
from sop.playbook import Sop, Step
from store import contact_tags, contacts, followups
from store import kf as kf_store
from store import pool as pool_store
from store.models import Contact, ContactStatus, SopTask, TaskStatus
from wecom import externalcontact, message

log = logging.getLogger(__name__)

CUSTOMER_FACING = {"send_text", "send_link", "send_image", "send_miniprogram", "mass_send"}
STAFF_ONLY = {"advisor_task", "escalate", "appchat_post"}  # done whether she is in WeCom or not


def execute(ctx: Context, *task_ids: int) -> dict[str, int]:
    """rq job: carry out these queued tasks; returns how many ended in each status."""
    sops = {sop.id: sop for sop in playbook.configured(ctx.settings)}
    outcome: dict[str, int] = {}
    queued = ctx.session.exec(select(SopTask).where(col(SopTask.id).in_(task_ids),
                                                    SopTask.status == TaskStatus.QUEUED)
                              .order_by(col(SopTask.id))).all()  # fmt: skip
    ones = [task for task in queued if task.target.startswith("c:")]
    people = {contact.id: contact for contact in ctx.session.exec(
        select(Contact).where(col(Contact.id).in_({_contact_id(t) for t in ones})))}  # fmt: skip
    talking = kf_store.talking(ctx.session, [c.external_userid for c in people.values()])
    statuses = [_carry_out(ctx, t, sops.get(t.sop_id), people.get(_contact_id(t)), talking)
                for t in ones]  # fmt: skip
    statuses += group_executor.carry_out(ctx, [t for t in queued if t.target.startswith("g:")],
                                         sops)  # fmt: skip
    ctx.session.commit()  # the last 1:1 outcome (each other one commits with the next claim)
    for status in statuses:
        outcome[status] = outcome.get(status, 0) + 1
    return outcome


CAPPED = records.Verdict(TaskStatus.PENDING, records.DAILY_CAP, tomorrow=True)


def verdict(session: Session, sop: Sop | None, step: Step | None, contact: Contact | None,
            task: SopTask) -> records.Verdict | None:  # fmt: skip
    """None when the task may go out (within her daily cap), else what it comes to: cancelled
    (the step or she is gone, an exit rule) or skipped (a condition)."""
    if sop is None or step is None:
        return records.Verdict(TaskStatus.CANCELLED, "no longer in the playbook")
    if contact is None:
        return records.Verdict(TaskStatus.CANCELLED, "contact deleted")
    exit_reason = _exit_reason(sop, contact)
    if exit_reason:
        return records.Verdict(TaskStatus.CANCELLED, exit_reason, rest=True)
    skip = _skip_reason(session, sop, contact, task)
    if not skip and contact.external_userid is None and step.action not in STAFF_ONLY:
        skip = "not a WeCom customer yet"  # a lead from outside WeCom: nobody can reach her
    if skip:
        return records.Verdict(TaskStatus.SKIPPED, skip)
    return None


def _contact_id(task: SopTask) -> int:
    return int(task.target.removeprefix("c:"))


def _carry_out(ctx: Context, task: SopTask, sop: Sop | None, contact: Contact | None,
               talking: set[str]) -> str:  # fmt: skip
    step = records.step_of(sop, task)
    stop = verdict(ctx.session, sop, step, contact, task)
    if stop is not None:
        return records.apply(ctx, task, stop)
    assert sop is not None and step is not None and contact is not None
    facing = step.action in CUSTOMER_FACING
    slot = records.take_slot(ctx, task.target, ctx.settings.sop.daily_cap) if facing else None
    if facing and slot is None:
        return records.apply(ctx, task, CAPPED)
    key = f"sop:{task.id}"
    if not outbox.claim(ctx, key, "sop", task.target):
        return records.already_handed_over(ctx, task, slot)
    detail = records.TO_THEM if facing else step.action
    outbox.deliver(
        ctx, [key],
        lambda: _act(ctx, sop, step, contact, task, key, _chosen(ctx, step, task), talking),
        retry_transient=True,
        record=lambda outcome: records.record(ctx, task, outcome, key, detail, slot),
        commit=False,  # with the next task's claim: one commit per send on SQLite's one writer
    )  # fmt: skip
    return task.status


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


def _skip_reason(session: Session, sop: Sop, contact: Contact, task: SopTask) -> str:
    conditions = sop.conditions
    if contact.status in conditions.skip_statuses:
        return f"status {contact.status}"
    if conditions.skip_opted_out and contact.opted_out:
        return "opted out"
    if conditions.skip_tags:
        present = contact_tags.names(session, contact.id) & set(conditions.skip_tags)
        if present:
            return f"tagged {', '.join(sorted(present))}"
    since = task.trigger_at or contact.added_at
    if conditions.skip_followed_up and since and followups.logged_since(session, contact.id,
                                                                         since):  # fmt: skip
        return "followed up"
    return ""


def _values(ctx: Context, contact: Contact, text: str) -> dict[str, str]:
    values = {"name": contact.name or "未命名客户", "stage": contact.stage or "未登记",
              "no": str(contact.id), "advisor": advisors.NEUTRAL}  # fmt: skip
    if "{advisor}" in text and contact.owner_userid:  # a user/get (cached) only when needed
        values["advisor"] = advisors.advisor_name(ctx, contact.owner_userid, advisors.NEUTRAL)
    return values


def _chosen(ctx: Context, step: Step, task: SopTask) -> str:
    """The step's text for the day it is due (one of its texts, in turn)."""
    return step.text_on(step.due_day(task.trigger_at or task.due_at, ctx.settings.tz))


def _act(ctx: Context, sop: Sop, step: Step, contact: Contact, task: SopTask, key: str,
         chosen: str, talking: set[str]) -> str:  # fmt: skip
    """Do the task's step with its chosen text; "" when done, else why WeCom would not take it
    (not worth retrying). A mass send's msgid is kept on the task (sop.readback). `talking`:
    who of the job's mothers had a dialog with the bot when it began."""
    values = _values(ctx, contact, chosen)
    text = render(chosen, values)
    if step.action == "advisor_task":
        task = f"【SOP】{sop.name}\n客户：{values['name']}（编号 {contact.id}）\n{text}"
        for userid in advisors.responsible(ctx, contact):
            outbox.notify(ctx, f"{key}:{userid}", userid, task)
        return ""
    if step.action == "escalate":
        escalate(ctx, contact, values, key, text)
        return ""
    if step.action == "appchat_post":
        message.send_appchat_text(ctx.wecom("app"), step.chat, text)
        return ""
    if step.action in ("add_tag", "remove_tag"):
        group = ctx.settings.sop.tag_group
        ids = tags.mark(ctx.session, ctx.wecom("contact"), contacts.wecom_userid(contact),
                        contact.external_userid, group, [step.tag],
                        remove=step.action == "remove_tag")  # fmt: skip
        if step.action == "add_tag":
            tagging.record(ctx, contact, {tag_id: (name, group) for name, tag_id in ids.items()})
        else:
            tagging.record(ctx, contact, {}, removed=set(ids.values()))
        return ""
    bot_may_say = step.action != "mass_send" and contact.external_userid in talking
    talk = kf_store.find_dialog(ctx.session, contact.external_userid) if bot_may_say else None
    if talk is not None and outbox.window_open(ctx, talk):
        outbox.say(ctx, contact, talk, _text_of(step, text), f"{key}:kf")
        return ""
    attachments = []
    if step.action == "send_link":
        link = {"title": step.title, "url": step.url, "desc": step.desc}
        attachments = [{"msgtype": "link", "link": {k: v for k, v in link.items() if v}}]
    mass = externalcontact.add_msg_template(
        ctx.wecom("contact"), contacts.wecom_userid(contact), text or step.title,
        external_userids=[contact.external_userid], attachments=attachments,
    )  # fmt: skip
    if mass.failed:
        return "her monthly mass-send quota is used up"
    task.msgid = mass.msgid
    return ""


def _text_of(step: Step, text: str) -> str:
    if step.action == "send_link":
        return f"{step.title}\n{step.desc}\n{step.url}".replace("\n\n", "\n")
    return text or step.title


def escalate(ctx: Context, contact: Contact, values: dict[str, str], key: str, extra: str) -> None:
    """No follow-up in time: tell the team lead and, with [followup] public_pool, put her in the
    public pool (公海) for the pool's advisors to claim."""
    rules, owner = ctx.settings.followup, contact.owner_userid
    lead = rules.team_leads.get(owner)
    leads = [lead] if lead else list(ctx.settings.report.managers)
    since = contact.assigned_at or contact.added_at or contact.created_at
    hours = (ctx.clock.now() - since).total_seconds() / 3600
    advisor = advisors.advisor_name(ctx, owner, owner) if owner else "（无人）"
    text = (f"跟进超时：客户「{values['name']}」（编号 {contact.id}）由{advisor}负责，"
            f"已{hours:.0f}小时，仍没有跟进记录。")  # fmt: skip
    if rules.public_pool:
        pool_store.put(ctx.session, contact, ctx.clock.now(), pool.TIMEOUT, by=owner)
        text += "\n她已进入公海，其他顾问可以认领。"
    if extra:
        text += "\n" + extra
    if not leads:
        log.warning("contact %d escalated, but no team lead or manager is configured", contact.id)
    for userid in leads:
        outbox.notify(ctx, f"{key}:{userid}", userid, text)
    if rules.public_pool:
        pool.offer(ctx, contact, key, pool.TIMEOUT)
