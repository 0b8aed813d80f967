"""What a tick would do with the tasks due, told without doing it (`mombot sop tick --dry-run`).

The same rules as the tick and the executors, asked and not acted on: during quiet hours every
due task is deferred to their end; otherwise each is judged by its executor's `verdict`
(cancelled, skipped), then by the daily cap (the ledger's slots for the day, less the sends
before it in this tick), then by the delivery ledger (a task whose key is claimed was handed
over before). Tasks are walked in the order the workers take them: the tick's jobs of
JOB_SIZE ids, each job's 1:1 tasks in id order, then its group tasks step by step.

A send judged here may still come out otherwise at send time: WeCom may refuse it, or a
worker may take a cap slot first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from crm.config import Settings
from sop import executor, group_executor, records
from sop.playbook import Sop, Step
from store import contacts, deliveries, groups, sop_tasks
from store.models import Contact, CustomerGroup, SopTask, TaskStatus

SEND, DEFERRED, CAPPED, CANCELLED, SKIPPED, HANDED_OVER = (
    "send", "deferred", "capped", "cancelled", "skipped", "handed over"
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    task_id: int
    sop_id: str
    step_id: str
    target: str
    who: str  # 小雨 · wmXXXX, or 孕妈群 · wrXXXX
    outcome: str  # SEND, DEFERRED, CAPPED, CANCELLED, SKIPPED or HANDED_OVER
    reason: str  # why, or for SEND what goes out


def contact_label(contact: Contact | None, target: str) -> str:
    if contact is None:
        return f"contact {target.removeprefix('c:')} (deleted)"
    return f"{contact.name or '未命名客户'} · {contact.external_userid}"


def group_label(group: CustomerGroup | None, target: str) -> str:
    chat_id = target.removeprefix("g:")
    if group is None:
        return f"{chat_id} (unknown group)"
    return f"{group.name or '未命名群'} · {chat_id}"


def labels(session: Session, targets: Sequence[str]) -> dict[str, str]:
    """How operators know each target: her name and external_userid, the group's name and
    chat id."""
    people = contacts.by_ids(session, [int(t[2:]) for t in targets if t.startswith("c:")])
    chats = groups.by_chat_ids(session, [t[2:] for t in targets if t.startswith("g:")])
    return {target: contact_label(people.get(int(target[2:])), target) if target.startswith("c:")
            else group_label(chats.get(target[2:]), target) for target in targets}  # fmt: skip


def outcomes(
    session: Session, settings: Settings, sops: Sequence[Sop], ids: Sequence[int],
    now: datetime, job_size: int, deferred_until: datetime | None,
) -> list[Outcome]:  # fmt: skip
    """What the tick at `now` would do with these due tasks. deferred_until: the end of the
    quiet hours `now` is in (every task waits for it), or None."""
    tasks = {task.id: task for task in sop_tasks.by_ids(session, ids)}
    ordered = [tasks[i] for i in sorted(tasks)]
    names = labels(session, sorted({task.target for task in ordered}))
    if deferred_until is not None:
        rules = settings.sop
        why = (f"until {deferred_until.isoformat(timespec='minutes')} "
               f"(quiet hours {rules.quiet_start}–{rules.quiet_end})")  # fmt: skip
        return [_outcome(task, names, DEFERRED, why) for task in ordered]
    judge = _Judge(session, settings, {sop.id: sop for sop in sops}, ordered, now)
    found: dict[int, Outcome] = {}
    for start in range(0, len(ordered), job_size):  # one job's tasks, as `execute` takes them
        chunk = ordered[start : start + job_size]
        for task in chunk:
            if task.target.startswith("c:"):
                found[task.id] = _outcome(task, names, *judge.one_to_one(task))
        batches: dict[tuple[str, str], list[SopTask]] = defaultdict(list)
        for task in chunk:
            if task.target.startswith("g:"):
                batches[(task.sop_id, task.step_id)].append(task)
        for batch in batches.values():
            for task, (outcome, reason) in judge.group_batch(batch):
                found[task.id] = _outcome(task, names, outcome, reason)
    return [found[task.id] for task in ordered if task.id in found]


def _outcome(task: SopTask, names: dict[str, str], outcome: str, reason: str) -> Outcome:
    return Outcome(task.id, task.sop_id, task.step_id, task.target, names[task.target], outcome,
                   reason)  # fmt: skip


def _capped(verdict: records.Verdict) -> tuple[str, str]:
    """A daily cap's verdict: the task waits a day, or (a scheduled post) is skipped."""
    then = "moved to tomorrow" if verdict.tomorrow else "skipped (a scheduled post is for its day)"
    return CAPPED, f"{verdict.reason}: {then}"


def _stopped(verdict: records.Verdict) -> tuple[str, str]:
    outcome = CANCELLED if verdict.status == TaskStatus.CANCELLED else SKIPPED
    rest = " (and the SOP's other pending steps for this target)" if verdict.rest else ""
    return outcome, verdict.reason + rest


class _Judge:
    """The executors' rules, read-only, with the cap slots and ledger keys the tick's earlier
    sends would take."""

    def __init__(self, session: Session, settings: Settings, sops: dict[str, Sop],
                 tasks: list[SopTask], now: datetime) -> None:  # fmt: skip
        self.session, self.sops, self.today, self.tz = session, sops, now.date(), settings.tz
        rules = settings.sop
        targets = {task.target for task in tasks}
        self.free = records.free_slots(session, [t for t in targets if t.startswith("c:")],
                                       rules.daily_cap, self.today)  # fmt: skip
        self.free |= records.free_slots(session, [t for t in targets if t.startswith("g:")],
                                        rules.group_daily_cap, self.today)  # fmt: skip
        self.handed_over = deliveries.existing(session, [f"sop:{task.id}" for task in tasks])
        self.people = contacts.by_ids(session, [int(t[2:]) for t in targets if t[:2] == "c:"])
        self.chats = groups.by_chat_ids(session, [t[2:] for t in targets if t[:2] == "g:"])

    def one_to_one(self, task: SopTask) -> tuple[str, str]:
        sop = self.sops.get(task.sop_id)
        step = records.step_of(sop, task)
        contact = self.people.get(int(task.target[2:]))
        stop = executor.verdict(self.session, sop, step, contact, task)
        if stop is not None:
            return _stopped(stop)
        assert step is not None
        facing = step.action in executor.CUSTOMER_FACING
        if facing and self.free[task.target] <= 0:
            return _capped(executor.CAPPED)
        if f"sop:{task.id}" in self.handed_over:
            return HANDED_OVER, "its key is in the delivery ledger: marked sent, not sent again"
        if facing:
            self.free[task.target] -= 1
        return SEND, self._what(step, task)

    def group_batch(self, batch: list[SopTask]) -> list[tuple[SopTask, tuple[str, str]]]:
        """One (SOP, step) batch of a job, as group_executor's _batch walks it."""
        sop = self.sops.get(batch[0].sop_id)
        step = records.step_of(sop, batch[0])
        judged, going = [], set()  # chat ids with a task going out in this batch
        for task in batch:
            chat_id = task.target[2:]
            stop = group_executor.verdict(sop, step, task, self.chats.get(chat_id), self.today)
            if stop is not None:
                judged.append((task, _stopped(stop)))
                continue
            assert step is not None
            mass_send = step.action == "mass_send"
            if mass_send and (chat_id in going or self.free[task.target] <= 0):
                judged.append((task, _capped(group_executor.capped(task))))
                continue
            if f"sop:{task.id}" in self.handed_over:
                judged.append((task, (HANDED_OVER, "its key is in the delivery ledger: marked "
                                                   "sent, not sent again")))  # fmt: skip
                continue
            if mass_send:
                self.free[task.target] -= 1
            going.add(chat_id)
            judged.append((task, (SEND, self._what(step, task))))
        return judged

    def _what(self, step: Step, task: SopTask) -> str:
        """The step's action and the start of what it says on the day it is due."""
        said = step.title or step.text_on(step.due_day(task.trigger_at or task.due_at, self.tz))
        said = " ".join(said.split())
        return f"{step.action}: {said[:40]}{'…' if len(said) > 40 else ''}" if said else step.action
