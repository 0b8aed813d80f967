"""change_external_contact: a mother adds, edits or leaves an advisor (客户联系)."""

from __future__ import annotations

import contextlib
import json
import logging

import redis

from crm import customers, intake, outbox, phones, scoring, tags
from crm.context import Context
from crm.leads import ADVISOR_DELETED, CUSTOMER_DELETED
from crm.stages import episode
from handlers import first, on, welcome
from sop import planner, playbook, tagging
from store import channels as channel_store
from store import contacts
from store.models import Contact
from wecom import externalcontact
from wecom.callbacks import ContactEvent
from wecom.client import WeComError, is_transient

log = logging.getLogger(__name__)

PROFILE_STASH = "mombot:profile:"
STASH_SECONDS = 600

# Source of del_external_contact when the contact moved to another advisor, not lost.
TRANSFER = "DELETE_BY_TRANSFER"
# the lost reason kept for each way the relation ends, and how her advisor is told it
LOST_REASONS = {CUSTOMER_DELETED: "删除了你", ADVISOR_DELETED: "已被你删除"}
TRANSFER_FAILURES = {
    "customer_refused": "客户拒绝了转接",
    "customer_limit_exceed": "接替成员的客户数已达上限",
}


def _read_profile(ctx: Context, external_userid: str) -> dict | None:
    """externalcontact/get's answer; transient WeCom errors raise (retry), others are logged.
    Read before the handler's writes: no write of ours waits on WeCom's answer."""
    try:
        return externalcontact.get(ctx.wecom("contact"), external_userid)
    except WeComError as exc:
        if is_transient(exc):
            raise
        log.warning("no profile for contact %s: %s", external_userid, exc)
        return None


def _apply_profile(ctx: Context, contact: Contact, answer: dict, just_added: bool) -> None:
    contacts.update_profile(ctx.session, contact, answer.get("external_contact", {}))
    follows = answer.get("follow_user", [])
    if not contact.phone:  # a phone her advisor noted in WeCom (备注手机号) finds her later
        noted = [phones.normalise(str(n)) for f in follows for n in f.get("remark_mobiles") or []]
        contact.phone = next((n for n in noted if n), "")
    tagging.from_profile(ctx, contact, follows, just_added)


def _stash(ctx: Context, external_userid: str, answer: dict) -> None:
    """Keep the profile read for her welcome for the rest of the handling (a while)."""
    with contextlib.suppress(redis.RedisError):  # then the rest reads it again
        ctx.redis.set(PROFILE_STASH + external_userid, json.dumps(answer), ex=STASH_SECONDS)


def _stashed(ctx: Context, external_userid: str) -> dict | None:
    with contextlib.suppress(redis.RedisError):
        kept = ctx.redis.get(PROFILE_STASH + external_userid)
        return json.loads(kept) if kept else None
    return None


def _record_added(event: ContactEvent, ctx: Context, channel_code: str) -> Contact:
    return contacts.record_added(
        ctx.session,
        external_userid=event.external_user_id,
        owner_userid=event.user_id,
        channel_code=channel_code,
        added_at=event.created_at,
        now=ctx.clock.now(),
    )


def _link(event: ContactEvent, ctx: Context, answer: dict | None) -> Contact | None:
    """The lead from outside WeCom she is (intake, an import), if any: linked, not doubled."""
    profile = (answer or {}).get("external_contact", {})
    mine = [f for f in (answer or {}).get("follow_user", []) if f.get("userid") == event.user_id]
    numbers = [str(n) for f in mine for n in f.get("remark_mobiles", []) or []]
    return intake.link(ctx.session, event.external_user_id, event.state,
                       str(profile.get("unionid", "")), numbers, ctx.clock.now())  # fmt: skip


def _linked(ctx: Context, contact: Contact, state: str) -> None:
    """A lead who just became a WeCom customer: the SOPs of the stage she is in start, and the
    contact way made for her alone goes (WeCom keeps a limited number of them)."""
    if contact.stage:
        entered = (contact.id, contact.stage, contact.stage_since or ctx.clock.now().date(),
                   episode(contact.stage, contact.due_date, contact.baby_birthday))  # fmt: skip
        planner.plan_stage_entered(ctx.session.connection(), playbook.configured(ctx.settings),
                                   [entered], ctx.settings.tz, ctx.clock.now())  # fmt: skip
    ctx.note(f"lead {contact.id} is now a WeCom customer")
    way = channel_store.get(ctx.session, state) if state else None
    if way is None:
        return
    try:
        externalcontact.del_contact_way(ctx.wecom("contact"), way.config_id)
    except WeComError as exc:
        if is_transient(exc):
            raise
        ctx.warn(f"contact way {state} not deleted: {exc}")
    ctx.session.delete(way)


@first("event", "change_external_contact", "add_external_contact")
@first("event", "change_external_contact", "add_half_external_contact")
def welcome_first(event: ContactEvent, ctx: Context) -> None:
    """The deadline part: her welcome, before anything else of anyone's (WeCom's 20 s), and
    nothing written but the outbox's ledger. An event past its window, or whose welcome was
    taken on already, costs nothing here; `contact_added` records what became of it."""
    if not welcome.due(ctx, event):
        return
    channel = ctx.settings.channel(event.state)
    name = ""
    if welcome.needs_name(ctx, channel):
        answer = _read_profile(ctx, event.external_user_id)
        if answer is not None:
            _stash(ctx, event.external_user_id, answer)
            name = answer.get("external_contact", {}).get("name", "")
    welcome.send(ctx, event, name, channel)


@on("event", "change_external_contact", "add_external_contact")
@on("event", "change_external_contact", "add_half_external_contact")
def contact_added(event: ContactEvent, ctx: Context) -> None:
    """Record her, welcome her (unless `welcome_first` did), tag her with her channel's tags,
    plan her SOPs."""
    answer = _stashed(ctx, event.external_user_id) or _read_profile(ctx, event.external_user_id)
    lead = _link(event, ctx, answer)
    by_lead_way = lead is not None and intake.lead_of_state(event.state) is not None
    code = lead.channel_code if lead is not None and by_lead_way else event.state
    channel = ctx.settings.channel(code)
    contact = _record_added(event, ctx, code)
    if answer is not None:
        _apply_profile(ctx, contact, answer, just_added=True)
    if channel is None:
        log.log(
            logging.WARNING if code else logging.INFO,
            "contact %d came with %s: default welcome and the %s tag",
            contact.id,
            f"unknown channel code {code!r}" if code else "no channel code",
            ctx.settings.tags.unknown_channel,
        )
    outcome = welcome.send(ctx, event, contact.name, channel)
    ctx.session.commit()  # her so far (handlers run again whole): no write waits on mark_tag
    names = channel.tags if channel else [ctx.settings.tags.unknown_channel]
    group = ctx.settings.tags.channel_group
    try:
        ids = tags.mark(
            ctx.session, ctx.wecom("contact"), event.user_id, event.external_user_id, group, names
        )
        tagging.record(ctx, contact, {tag_id: (name, group) for name, tag_id in ids.items()})
    except WeComError as exc:
        if is_transient(exc):
            raise  # retried later; the welcome is not sent twice (ledger)
        ctx.warn(f"not tagged with her channel's tags: {exc}")
    now = ctx.clock.now()
    sops = playbook.configured(ctx.settings)
    planner.plan_contact_added(
        ctx.session.connection(), sops, contact.id, code, contact.added_at or now,
        ctx.settings.tz, now,
    )  # fmt: skip
    if lead is not None:
        _linked(ctx, contact, event.state if by_lead_way else "")
    scoring.recount(ctx.session, ctx.settings, [contact.id], now)
    ctx.note(
        f"contact {contact.id} added by {event.user_id} via {event.state or '-'}, welcome {outcome}"
    )


@on("event", "change_external_contact", "edit_external_contact")
def contact_edited(event: ContactEvent, ctx: Context) -> None:
    answer = _read_profile(ctx, event.external_user_id)
    contact = contacts.get(ctx.session, event.external_user_id)
    if contact is None:  # added before mombot ran: WeCom tells who follows her
        contact = customers.look_up(ctx, event.external_user_id)
    if contact is None:
        contact = contacts.record_added(
            ctx.session,
            external_userid=event.external_user_id,
            owner_userid=event.user_id,
            channel_code="",
            added_at=event.created_at,
            now=ctx.clock.now(),
        )
    if answer is not None:
        _apply_profile(ctx, contact, answer, just_added=False)


def _lost(event: ContactEvent, ctx: Context, reason: str) -> None:
    contact = contacts.record_lost(
        ctx.session, event.external_user_id, event.user_id, reason, ctx.clock.now()
    )
    if contact is None:  # not hers, or unknown to us: nothing to tell
        return
    channel = ctx.settings.channel(contact.channel_code)
    days = (ctx.clock.now() - contact.added_at).days if contact.added_at else 0
    text = (
        f"流失提醒：客户「{contact.name or '未命名客户'}」{LOST_REASONS[reason]}。\n"
        f"渠道：{channel.name if channel else contact.channel_code or '未知渠道'}\n"
        f"阶段：{contact.stage or '未登记'}\n"
        f"添加至今：{days}天"
    )
    key = f"lost:{event.external_user_id}:{event.user_id}:{event.create_time}"
    outbox.notify(ctx, key, event.user_id, text)


@on("event", "change_external_contact", "del_follow_user")
def customer_left(event: ContactEvent, ctx: Context) -> None:
    """She deleted the advisor."""
    _lost(event, ctx, CUSTOMER_DELETED)


@on("event", "change_external_contact", "del_external_contact")
def advisor_removed(event: ContactEvent, ctx: Context) -> None:
    """The advisor deleted her; a transfer to another advisor is not a loss."""
    if event.source == TRANSFER:
        contact = contacts.get(ctx.session, event.external_user_id)
        if contact is not None and contact.handover_userid == event.user_id:
            contact.handover_userid = None  # the 公海 claim's transfer is complete
            ctx.session.add(contact)
        log.info("contact transferred away from %s", event.user_id)
        return
    _lost(event, ctx, ADVISOR_DELETED)


@on("event", "change_external_contact", "transfer_fail")
def transfer_failed(event: ContactEvent, ctx: Context) -> None:
    """A transfer (在职继承) to this advisor did not happen: the contact stays with her owner."""
    contact = contacts.get(ctx.session, event.external_user_id)
    reason = TRANSFER_FAILURES.get(event.fail_reason, event.fail_reason or "原因未知")
    log.warning("transfer of a contact to %s failed: %s", event.user_id, event.fail_reason)
    if contact is None:
        return
    contacts.record_transfer_failure(ctx.session, contact, event.fail_reason, ctx.clock.now())
    name = contact.name or "未命名客户"
    key = f"transfer_fail:{event.external_user_id}:{event.user_id}:{event.create_time}"
    if contact.owner_userid == event.user_id and contact.handover_userid:  # a 公海 claim
        contact.owner_userid, contact.handover_userid = contact.handover_userid, None
        ctx.session.add(contact)
        told = f"转接失败：客户「{name}」没有转给你（{reason}），仍由原顾问跟进。"
        outbox.notify(ctx, f"{key}:taker", event.user_id, told)
    text = f"转接失败：客户「{name}」没有转给 {event.user_id}（{reason}），仍由你跟进。"
    outbox.notify(ctx, key, contact.owner_userid, text)
