"""Stages that move by themselves, and dates she tells: the SOPs they start.

`refresh` (daily, queued by the worker's ticker; `mombot stages refresh`) reads every contact
once, in batches, and writes only those whose stage changed: the new stage, a stage_events row,
the stage_entered SOPs, and a queued job that swaps her stage tag in WeCom with a single
mark_tag call (add the new, remove every other stage tag). `set_dates` does the same for one
mother the moment she (or her advisor) tells a due date or a birthday, in the caller's
transaction: her tag follows from an inbox event (STAGED) once that commits.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

from crm import advisors, outbox, scoring, tags, tiers
from crm.context import BULK, Context
from crm.stages import LATE, PREGNANT, STAGES, episode, stage_on
from sop import planner, playbook, readback
from store import contact_tags, contacts, inbox, sop_tasks
from store import kf as kf_store
from store.models import Contact, ContactStatus, StageEvent
from wecom import externalcontact
from wecom.client import WeComError, is_transient

log = logging.getLogger(__name__)

BATCH = 5000
JOB_SIZE = 100
STAGED = "mombot_stage_changed"  # the inbox event for a mother whose stage `set_dates` moved


@dataclass
class RefreshReport:
    day: date
    contacts: int = 0
    changed: dict[str, int] = field(default_factory=dict)  # new stage → count
    overdue: list[int] = field(default_factory=list)  # contact ids: due date long past
    tag_jobs: int = 0


def refresh(ctx: Context, day: date | None = None) -> RefreshReport:
    """Recompute every contact's stage for `day` (default: today) and act on the changes."""
    day = day or ctx.clock.now().date()
    rules = ctx.settings.stages
    report = RefreshReport(day)
    overdue_before = day - timedelta(days=rules.overdue_days)
    sops = playbook.configured(ctx.settings)
    changed_ids: list[int] = []
    last_id = 0
    while True:
        with ctx.engine.connect() as connection:
            rows = contacts.stage_batch(connection, last_id, BATCH)
        if not rows:
            break
        last_id = rows[-1].id
        report.contacts += len(rows)
        changes, episodes = [], {}
        for row in rows:
            new = stage_on(day, row.due_date, row.baby_birthday, row.trying_to_conceive, rules)
            if new != row.stage and row.status != ContactStatus.LOST:
                changes.append((row.id, row.stage, new))
                episodes[row.id] = new and episode(new, row.due_date, row.baby_birthday)
            if new == LATE and row.baby_birthday is None and row.due_date < overdue_before:
                report.overdue.append(row.id)
        if changes:
            now = ctx.clock.now()
            with ctx.engine.begin() as connection:
                entered = [(contact_id, stage, day, episodes[contact_id]) for contact_id, stage, day
                           in contacts.apply_stages(connection, changes, day, now)]  # fmt: skip
                planner.plan_stage_entered(connection, sops, entered, ctx.settings.tz, now)
            changed_ids += [contact_id for contact_id, _, _ in changes]
            for _, _, new in changes:
                key = new or "（无）"
                report.changed[key] = report.changed.get(key, 0) + 1
    report.tag_jobs = queue_tag_sync(ctx, changed_ids)
    ctx.services.enqueue_many(BULK, ask_if_born, _chunks(report.overdue))
    log.info("stages refreshed for %s: %d contacts, %d changed", day, report.contacts,
             len(changed_ids))  # fmt: skip
    return report


def _chunks(ids: list[int]) -> list[tuple[int, ...]]:
    return [tuple(ids[i : i + JOB_SIZE]) for i in range(0, len(ids), JOB_SIZE)]


def queue_tag_sync(ctx: Context, contact_ids: list[int]) -> int:
    """Queue jobs that update these contacts' stage tags in WeCom; returns how many jobs."""
    chunks = _chunks(contact_ids)
    for start in range(0, len(chunks), 1000):
        ctx.services.enqueue_many(BULK, sync_stage_tags, chunks[start : start + 1000])
    return len(chunks)


def refresh_job(ctx: Context, day: str) -> dict[str, int]:
    """rq job: the daily refresh, queued by the worker's ticker."""
    report = refresh(ctx, date.fromisoformat(day))
    readback.read_back(ctx)
    tiered = tiers.refresh(ctx.engine, ctx.settings, ctx.clock.now())
    scored = scoring.refresh(ctx.engine, ctx.settings, ctx.clock.now())
    log.info("value tiers recounted: %d changed; lead scores: %d changed", tiered, scored)
    return {"contacts": report.contacts, "changed": sum(report.changed.values()),
            "tiers_changed": tiered, "scores_changed": scored}  # fmt: skip


def sync_stage_tags(ctx: Context, *contact_ids: int) -> int:
    """rq job: make WeCom show each contact's current stage tag, and no other; returns calls."""
    return sum(_sync_one(ctx, ctx.session.get(Contact, i)) for i in contact_ids)


def _sync_one(ctx: Context, contact: Contact | None) -> int:
    if (contact is None or contact.status == ContactStatus.LOST or not contact.owner_userid
            or contact.external_userid is None):  # fmt: skip
        return 0
    client = ctx.wecom("contact")
    group = ctx.settings.stages.tag_group
    ids = tags.ensure(ctx.session, client, group, list(STAGES))
    wanted = ids.get(contact.stage) if contact.stage else None
    if wanted == contact.stage_tag_id:
        return 0
    try:
        others = [tag_id for tag_id in ids.values() if tag_id != wanted]
        externalcontact.mark_tag(client, contacts.wecom_userid(contact), contact.external_userid,
                                 add=[wanted] if wanted else [], remove=others)  # fmt: skip
    except WeComError as exc:
        if is_transient(exc):
            raise
        log.warning("stage tag of contact %d not set: %s", contact.id, exc)
        return 1
    contact.stage_tag_id = wanted
    ctx.session.add(contact)
    contact_tags.update(ctx.session, contact.id, {wanted: (contact.stage, group)} if wanted else {},
                        set(ids.values()) - {wanted}, ctx.clock.now())  # fmt: skip
    ctx.session.commit()
    return 1


DUE, BIRTHDAY = "due_date", "baby_birthday"  # the anchors of playbooks, as Contact names them


def set_dates(
    ctx: Context,
    contact: Contact,
    *,
    due_date: date | None = None,
    birthday: date | None = None,
    trying: bool | None = None,
    clear: Collection[str] = (),
) -> str | None:
    """Record what she told us (None: unchanged; `clear` names dates to forget), move her stage
    at once, plan the SOP steps that start from it and from her dates, and queue her tag
    update; the new stage if it changed.

    A corrected date replans: steps still pending from the old date are cancelled with the
    reason, and steps she already got are not planned again for the new date."""
    day, now = ctx.clock.now().date(), ctx.clock.now()
    before = {DUE: contact.due_date, BIRTHDAY: contact.baby_birthday}
    for name, value in ((DUE, due_date), (BIRTHDAY, birthday)):
        if name in clear or value is not None:
            setattr(contact, name, None if name in clear else value)
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
    corrected = [name for name, old in before.items()
                 if old is not None and old != getattr(contact, name)]  # fmt: skip
    for name in corrected:
        _replan(ctx, contact, name, before[name], getattr(contact, name))
    if new and (changed or corrected):
        entered = (contact.id, new, day, episode(new, contact.due_date, contact.baby_birthday))
        planner.plan_stage_entered(connection, sops, [entered], tz, now)
    anchors = {DUE: contact.due_date, BIRTHDAY: contact.baby_birthday}
    planner.plan_anchors(connection, sops, contact.id, anchors, tz, now)
    if changed:  # her tag follows once this commits: a job queued now could read the old stage
        inbox.announce(connection, STAGED, [contact.id], [new or ""], now)
    scoring.recount(ctx.session, ctx.settings, [contact.id], now)
    return new if changed else None


def _replan(ctx: Context, contact: Contact, name: str, old: date, new: date | None) -> None:
    """Her due date or birthday changed from `old`: cancel what is pending from it (its anchor
    steps and the stage sequences of that pregnancy or baby), and carry what was sent over to
    the new date's keys so that it is not sent twice."""
    stages = PREGNANT if name == DUE else tuple(s for s in STAGES if s not in PREGNANT)

    def keys(value: date) -> list[str]:
        dates = {DUE: value, BIRTHDAY: None} if name == DUE else {DUE: None, BIRTHDAY: value}
        return [planner.anchor_key(name, value)] + [
            planner.stage_key(stage, episode(stage, dates[DUE], dates[BIRTHDAY]))
            for stage in stages
        ]

    connection, now = ctx.session.connection(), ctx.clock.now()
    target = planner.contact_target(contact.id)
    reason = f"{name} corrected: {old} → {new or 'cleared'}"
    cancelled = sop_tasks.cancel_pending(connection, target, reason, now, trigger_keys=keys(old))
    carried = 0
    if new is not None:
        moves = dict(zip(keys(old), keys(new), strict=True))
        carried = sop_tasks.carry_over_sent(connection, target, moves, now)
    log.info(
        "contact %d: %s; %d pending steps cancelled, %d sent steps carried over",
        contact.id,
        reason,
        cancelled,
        carried,
    )


ASK_IF_BORN = (
    "预产期已经过去一段时间啦，宝宝出生了吗？如果已经出生，告诉我宝宝的生日，我给你换成育儿内容～"
)


def ask_if_born(ctx: Context, *contact_ids: int) -> int:
    """rq job (queued by the refresh): her due date is long past and no birthday is known. Ask
    her in the bot if its window is open, else ask her advisor; once per due date."""
    asked = 0
    for contact_id in contact_ids:
        contact = ctx.session.get(Contact, contact_id)
        if contact is None or contact.baby_birthday or not contact.due_date:
            continue
        key = f"ask-born:{contact.id}:{contact.due_date.isoformat()}"
        talk = kf_store.find_dialog(ctx.session, contact.external_userid)
        if talk is not None and outbox.window_open(ctx, talk):
            outbox.say(ctx, contact, talk, ASK_IF_BORN, key)
        else:
            name, due = contact.name or "未命名客户", contact.due_date
            note = f"客户「{name}」预产期（{due}）已过，还没登记宝宝出生，请联系确认。"
            for userid in advisors.responsible(ctx, contact):
                outbox.notify(ctx, f"{key}:{userid}", userid, note)
        ctx.session.commit()
        asked += 1
    return asked
