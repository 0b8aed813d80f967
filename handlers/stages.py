"""Lifecycle stages: computed from the due date or the baby's birthday for any day, kept in
WeCom as exactly one tag of the 孕育阶段 group per contact, and moved on every day by
`refresh` without a word from her.

`refresh` reads every contact once, in batches, and writes only those whose stage changed:
their new stage, a stage_entered event (what SOP sequences start from), and a queued job that
swaps the tag in WeCom with a single mark_tag call (add the new, remove every other stage tag).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import insert, select, update

from bot.config import StageSettings
from bot.runtime import BULK, Runtime
from bot.wecom import WeComError, is_transient
from handlers import tags
from handlers.context import Context
from handlers.dates import add_months
from sop import planner, playbook
from store import contact_tags, contacts
from store.db import session
from store.models import Contact, ContactStatus, StageEvent

log = logging.getLogger(__name__)

PREPARING, EARLY, MID, LATE = "备孕期", "孕早期", "孕中期", "孕晚期"
NEWBORN, INFANT, TODDLER = "新生儿期", "婴儿期", "幼儿期"
STAGES = (PREPARING, EARLY, MID, LATE, NEWBORN, INFANT, TODDLER)
TERM_DAYS = 280
NEW_PREGNANCY_AFTER = timedelta(days=280)  # a due date this long after a birth is 二宝
BATCH = 5000
TAG_JOB_SIZE = 100


def stage_on(
    day: date,
    due_date: date | None,
    birthday: date | None,
    trying: bool,
    rules: StageSettings,
) -> str | None:
    """Her stage on `day`, or None when nothing is known (or her child is past 幼儿期)."""
    pregnant = due_date is not None and (
        birthday is None or due_date > birthday + NEW_PREGNANCY_AFTER
    )
    if pregnant:
        days_pregnant = TERM_DAYS - (due_date - day).days
        if days_pregnant < rules.mid_pregnancy_week * 7:
            return EARLY
        if days_pregnant < rules.late_pregnancy_week * 7:
            return MID
        return LATE  # until she tells us the baby came
    if birthday is not None and birthday <= day:
        if (day - birthday).days <= rules.newborn_days:
            return NEWBORN
        if birthday > add_months(day, -rules.infant_months):
            return INFANT
        if birthday > add_months(day, -12 * rules.toddler_years):
            return TODDLER
        return None
    return PREPARING if trying else None


def gestational_age(day: date, due_date: date) -> str:
    """孕X周+Y天."""
    days = TERM_DAYS - (due_date - day).days
    return f"孕{days // 7}周+{days % 7}天"


def baby_age(day: date, birthday: date) -> str:
    """X个月Y天 (or Y天 in the first month), X岁Y个月 from one year."""
    months = (day.year - birthday.year) * 12 + day.month - birthday.month
    months -= 1 if day.day < birthday.day else 0
    if months >= 12:
        years, rest = divmod(months, 12)
        return f"{years}岁{rest}个月" if rest else f"{years}岁"
    days = (day - add_months(birthday, months)).days
    return f"{months}个月{days}天" if months else f"{days}天"


@dataclass
class RefreshReport:
    day: date
    contacts: int = 0
    changed: dict[str, int] = field(default_factory=dict)  # new stage → count
    overdue: list[int] = field(default_factory=list)  # contact ids: due date long past
    tag_jobs: int = 0


def refresh(runtime: Runtime, day: date | None = None) -> RefreshReport:
    """Recompute every contact's stage for `day` (default: today) and act on the changes."""
    day = day or runtime.clock.now().date()
    rules = runtime.settings.stages
    report = RefreshReport(day)
    table = Contact.__table__
    columns = (
        table.c.id, table.c.stage, table.c.due_date, table.c.baby_birthday,
        table.c.trying_to_conceive, table.c.status,
    )  # fmt: skip
    overdue_before = day - timedelta(days=rules.overdue_days)
    sops = playbook.configured(runtime.settings)
    changed_ids: list[int] = []
    last_id = 0
    while True:
        with runtime.engine.connect() as connection:
            rows = connection.execute(
                select(*columns).where(table.c.id > last_id).order_by(table.c.id).limit(BATCH)
            ).all()
        if not rows:
            break
        last_id = rows[-1].id
        report.contacts += len(rows)
        changes = []
        for row in rows:
            new = stage_on(day, row.due_date, row.baby_birthday, row.trying_to_conceive, rules)
            if new != row.stage and row.status != ContactStatus.LOST:
                changes.append((row.id, row.stage, new))
            if new == LATE and row.baby_birthday is None and row.due_date < overdue_before:
                report.overdue.append(row.id)
        if changes:
            _apply(runtime, changes, day, sops)
            changed_ids += [contact_id for contact_id, _, _ in changes]
            for _, _, new in changes:
                key = new or "（无）"
                report.changed[key] = report.changed.get(key, 0) + 1
    report.tag_jobs = queue_tag_sync(runtime, changed_ids)
    if report.overdue:
        from handlers.kf import ask_if_born

        queue = runtime.queue(BULK)
        for start in range(0, len(report.overdue), TAG_JOB_SIZE):
            queue.enqueue(ask_if_born, *report.overdue[start : start + TAG_JOB_SIZE])
    log.info("stages refreshed for %s: %d contacts, %d changed", day, report.contacts,
             len(changed_ids))  # fmt: skip
    return report


def _apply(
    runtime: Runtime, changes: list[tuple[int, str | None, str | None]], day: date, sops: list
) -> None:
    table, events = Contact.__table__, StageEvent.__table__
    now = runtime.clock.now()
    with runtime.engine.begin() as connection:
        for stage in {new for _, _, new in changes}:
            ids = [contact_id for contact_id, _, new in changes if new == stage]
            for start in range(0, len(ids), 900):  # SQLite's limit on bound parameters
                connection.execute(
                    update(table)
                    .where(table.c.id.in_(ids[start : start + 900]))
                    .values(stage=stage, stage_since=day if stage else None, updated_at=now)
                )
        entered = [
            {"contact_id": contact_id, "stage": new, "previous": old, "entered_on": day,
             "created_at": now}
            for contact_id, old, new in changes if new is not None
        ]  # fmt: skip
        if entered:
            connection.execute(insert(events), entered)
            planner.plan_stage_entered(
                connection, sops, [(e["contact_id"], e["stage"], day) for e in entered],
                runtime.settings.tz, now,
            )  # fmt: skip


def queue_tag_sync(runtime: Runtime, contact_ids: list[int]) -> int:
    """Queue jobs that update these contacts' stage tags in WeCom; returns how many jobs."""
    queue = runtime.queue(BULK)
    chunks = [contact_ids[i : i + TAG_JOB_SIZE] for i in range(0, len(contact_ids), TAG_JOB_SIZE)]
    for start in range(0, len(chunks), 1000):
        queue.enqueue_many(
            [queue.prepare_data(sync_stage_tags, args=tuple(chunk), result_ttl=300)
             for chunk in chunks[start : start + 1000]]
        )  # fmt: skip
    return len(chunks)


def refresh_job(day: str) -> dict[str, int]:
    """rq job: the daily refresh, queued by the worker's ticker."""
    from bot import runtime as runtime_module

    report = refresh(runtime_module.current(), date.fromisoformat(day))
    return {"contacts": report.contacts, "changed": sum(report.changed.values())}


def sync_stage_tags(*contact_ids: int) -> int:
    """rq job: make WeCom show each contact's current stage tag, and no other; returns calls."""
    from bot import runtime as runtime_module

    runtime = runtime_module.current()
    with session(runtime.engine) as s:
        return sum(_sync_one(Context(s, runtime), s.get(Contact, i)) for i in contact_ids)


def _sync_one(ctx: Context, contact: Contact | None) -> int:
    if contact is None or contact.status == ContactStatus.LOST or not contact.owner_userid:
        return 0
    client = ctx.wecom("contact")
    ids = tags.ensure(ctx.session, client, ctx.settings.stages.tag_group, list(STAGES))
    wanted = ids.get(contact.stage) if contact.stage else None
    if wanted == contact.stage_tag_id:
        return 0
    body = {
        "userid": contacts.wecom_userid(contact),
        "external_userid": contact.external_userid,
        "add_tag": [wanted] if wanted else [],
        "remove_tag": [tag_id for tag_id in ids.values() if tag_id != wanted],
    }
    try:
        client.post("externalcontact/mark_tag", json=body)
    except WeComError as exc:
        if is_transient(exc):
            raise
        log.warning("stage tag of contact %d not set: %s", contact.id, exc)
        return 1
    contact.stage_tag_id = wanted
    ctx.session.add(contact)
    group = ctx.settings.stages.tag_group
    contact_tags.update(ctx.session, contact.id, {wanted: (contact.stage, group)} if wanted else {},
                        set(ids.values()) - {wanted}, ctx.clock.now())  # fmt: skip
    ctx.session.commit()
    return 1


def set_dates(
    ctx: Context,
    contact: Contact,
    *,
    due_date: date | None = None,
    birthday: date | None = None,
    trying: bool | None = None,
) -> str | None:
    """Record what she told us, move her stage at once, plan the SOP steps that start from it
    and from her dates, and queue her tag update; the new stage if it changed."""
    day, now = ctx.clock.now().date(), ctx.clock.now()
    if due_date is not None:
        contact.due_date = due_date
    if birthday is not None:
        contact.baby_birthday = birthday
    if trying is not None:
        contact.trying_to_conceive = trying
    rules = ctx.settings.stages
    new = stage_on(day, contact.due_date, contact.baby_birthday, contact.trying_to_conceive, rules)
    changed = new != contact.stage
    if changed:
        previous, contact.stage, contact.stage_since = contact.stage, new, day
        if new:
            ctx.session.add(StageEvent(contact_id=contact.id, stage=new, previous=previous,
                                       entered_on=day, created_at=now))  # fmt: skip
    ctx.session.add(contact)
    ctx.session.flush()
    sops = playbook.configured(ctx.settings)
    connection, tz = ctx.session.connection(), ctx.settings.tz
    if changed and new:
        planner.plan_stage_entered(connection, sops, [(contact.id, new, day)], tz, now)
    anchors = {"due_date": contact.due_date, "baby_birthday": contact.baby_birthday}
    planner.plan_anchors(connection, sops, contact.id, anchors, tz, now)
    queue_tag_sync(ctx.runtime, [contact.id])
    return new if changed else None
