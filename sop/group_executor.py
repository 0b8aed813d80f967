"""Carrying out due SOP tasks for customer groups (客户群).

Tasks of one step that fall due together are carried out together: newcomers to a group are
welcomed in one message, and a group mass send goes to each owner as one add_msg_template with
all of that owner's groups (chat_id_list), so an owner confirms once, not once per group.
Every task is still claimed in the delivery ledger first, so none is ever sent twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from crm import advisors, outbox
from crm.context import Context
from crm.placeholders import render
from sop import records
from sop.playbook import Sop, Step
from store import groups
from store.models import CustomerGroup, SopTask, TaskStatus
from wecom import externalcontact, message


def carry_out(ctx: Context, tasks: Sequence[SopTask], sops: dict[str, Sop]) -> list[str]:
    statuses: list[str] = []
    batches: dict[tuple[str, str], list[SopTask]] = defaultdict(list)
    for task in tasks:
        batches[(task.sop_id, task.step_id)].append(task)
    for (sop_id, _step_id), batch in batches.items():
        statuses += _batch(ctx, sops.get(sop_id), batch)
    return statuses


def verdict(sop: Sop | None, step: Step | None, task: SopTask, group: CustomerGroup | None,
            today: date) -> records.Verdict | None:  # fmt: skip
    """None when the task may go out (within the group's daily cap), else what it comes to."""
    if sop is None or step is None:
        return records.Verdict(TaskStatus.CANCELLED, "no longer in the playbook")
    if group is None or group.dismissed:
        return records.Verdict(TaskStatus.CANCELLED, "group dismissed", rest=True)
    if not sop.groups.matches(group.name, group.owner_userid):
        return records.Verdict(TaskStatus.SKIPPED, "the group no longer fits the SOP")
    if task.trigger_key.startswith("schedule:"):
        day = date.fromisoformat(task.trigger_key.removeprefix("schedule:"))
        if today > day:
            return records.Verdict(TaskStatus.SKIPPED, f"missed its day ({day})")
    if group.customers == 0:
        return records.Verdict(TaskStatus.SKIPPED, "no customers in the group")
    return None


def capped(task: SopTask) -> records.Verdict:
    """The group had its mass sends for today: a scheduled post is for today only (skipped),
    anything else waits a day."""
    why = "the group's daily mass send is used"
    if task.trigger_key.startswith("schedule:"):
        return records.Verdict(TaskStatus.SKIPPED, why)
    return records.Verdict(TaskStatus.PENDING, why, tomorrow=True)


def _ready(ctx: Context, sop: Sop | None, step: Step | None, task: SopTask,
           group: CustomerGroup | None) -> str:  # fmt: skip
    """ "" if the task may go out now, else the status it ended in."""
    stop = verdict(sop, step, task, group, ctx.clock.now().date())
    return records.apply(ctx, task, stop) if stop is not None else ""


def _capped(ctx: Context, task: SopTask) -> str:
    return records.apply(ctx, task, capped(task))


def _batch(ctx: Context, sop: Sop | None, tasks: list[SopTask]) -> list[str]:
    step = records.step_of(sop, tasks[0])
    statuses: list[str] = []
    by_group: dict[str, list[SopTask]] = defaultdict(list)
    chats: dict[str, CustomerGroup] = {}
    slots: dict[int, str] = {}  # task id → its group's daily mass-send slot
    for task in tasks:
        chat_id = task.target.removeprefix("g:")
        group = chats.get(chat_id) or groups.get(ctx.session, chat_id)
        if group is not None:
            chats[chat_id] = group
        status = _ready(ctx, sop, step, task, group)
        if status:
            statuses.append(status)
            continue
        if step.action == "mass_send":
            slot = None if by_group.get(chat_id) else records.take_slot(
                ctx, task.target, ctx.settings.sop.group_daily_cap)  # fmt: skip
            if slot is None:
                statuses.append(_capped(ctx, task))
                continue
            slots[task.id] = slot
        if not outbox.claim(ctx, _key(task), "sop", task.target):
            statuses.append(records.already_handed_over(ctx, task, slots.pop(task.id, None)))
            continue
        by_group[chat_id].append(task)
    if not by_group:
        return statuses
    assert sop is not None and step is not None
    texts: dict[str, str] = {}
    for chat_id, claimed in by_group.items():  # the text for the day it is due (texts: in turn)
        first = claimed[0]
        chosen = step.text_on(step.due_day(first.trigger_at or first.due_at, ctx.settings.tz))
        texts[chat_id] = render(chosen, _values(ctx, chats[chat_id], claimed, chosen))
    if step.action == "mass_send":
        sends: dict[tuple[str, str], list[str]] = defaultdict(list)
        for chat_id in by_group:
            sends[(chats[chat_id].owner_userid, texts[chat_id])].append(chat_id)
        for (owner, text), chat_ids in sends.items():
            statuses += _mass_send(ctx, owner, text, {c: by_group[c] for c in chat_ids}, slots)
        return statuses
    for chat_id, claimed in by_group.items():
        statuses += _notify(ctx, sop, step, chats[chat_id], texts[chat_id], claimed)
    return statuses


def _values(ctx: Context, group: CustomerGroup, tasks: list[SopTask],
            text: str) -> dict[str, str]:  # fmt: skip
    """Placeholder values, looked up only for the placeholders the text uses."""
    values = {"group": group.name or "客户群", "newcomers": "新朋友", "advisor": "群主"}
    joined = list(dict.fromkeys(t.trigger_key.split(":")[1] for t in tasks
                                if t.trigger_key.startswith("joined:")))  # fmt: skip
    if "{newcomers}" in text and joined:
        values["newcomers"] = "、".join(groups.member_names(ctx.session, group.chat_id, joined))
    if "{advisor}" in text:
        values["advisor"] = advisors.advisor_name(ctx, group.owner_userid, "群主")
    return values


def _key(task: SopTask) -> str:
    return f"sop:{task.id}"


def _deliver(ctx: Context, tasks: list[SopTask], send, detail: str,
             slots: dict[int, str]) -> list[str]:  # fmt: skip
    """One WeCom call for several claimed tasks, each recorded from its outcome."""

    def record(outcome: outbox.Outcome) -> None:
        for task in tasks:
            records.record(ctx, task, outcome, _key(task), detail, slots.get(task.id))

    outbox.deliver(ctx, [_key(task) for task in tasks], send, retry_transient=True, record=record)
    return [task.status for task in tasks]


def _mass_send(ctx: Context, owner: str, text: str, tasks_by_group: dict[str, list[SopTask]],
               slots: dict[int, str]) -> list[str]:  # fmt: skip
    """One group mass send (add_msg_template, chat_type group) the owner confirms once."""
    tasks = [task for claimed in tasks_by_group.values() for task in claimed]

    def send() -> dict[str, str]:
        mass = externalcontact.add_msg_template(ctx.wecom("contact"), owner, text,
                                                chat_ids=list(tasks_by_group))  # fmt: skip
        full = set(mass.failed)
        for task in tasks:  # sop.readback reads back which groups got it
            task.msgid = mass.msgid or None
        return {_key(task): "the group's monthly mass-send quota is used up"
                for chat_id, claimed in tasks_by_group.items() if chat_id in full
                for task in claimed}  # fmt: skip

    return _deliver(ctx, tasks, send, records.TO_THEM, slots)


def _notify(ctx: Context, sop: Sop, step: Step, group: CustomerGroup, text: str,
            tasks: list[SopTask]) -> list[str]:  # fmt: skip
    """advisor_task (an app message to the group's owner) or appchat_post (an internal group)."""
    key = _key(tasks[0])

    def send() -> str:
        if step.action == "appchat_post":
            message.send_appchat_text(ctx.wecom("app"), step.chat, text)
        else:
            task = f"【SOP】{sop.name}\n客户群：{group.name or group.chat_id}\n{text}"
            outbox.notify(ctx, f"{key}:{group.owner_userid}", group.owner_userid, task)
        return ""

    return _deliver(ctx, tasks, send, step.action, {})
