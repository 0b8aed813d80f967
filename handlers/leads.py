"""Leads given to an advisor by an [[assign]] rule: he is told (one message for one lead, a
digest for the many given within assign.NOTICE_GAP), and each lead's follow-up SLA starts.
Leads whose score crossed the [scoring] threshold: the 高意向 tag follows her score, and her
advisor is told once."""

from __future__ import annotations

from crm import advisors, assign, outbox, scoring, tags
from crm.context import Context
from handlers import on
from sop import planner, playbook, tagging
from store import channels, contact_tags, contacts, inbox, merges, signals
from store import kf as kf_store
from store.models import Contact, ContactStatus
from wecom import externalcontact
from wecom.callbacks import Event
from wecom.client import WeComError, is_transient

DIGEST_LINES = 20  # leads named in one digest; the rest are counted
SLA_CHUNK = 100  # leads whose SLAs one commit plans: on SQLite the intake waits for each commit


@on("event", assign.ASSIGNED)
def leads_assigned(event: Event, ctx: Context) -> None:
    userid = str(event.fields.get("UserID", ""))
    ids = inbox.announced(event.fields)
    found = contacts.by_ids(ctx.session, merges.resolve_all(ctx.session, ids))
    mine = [c for c in found.values() if c.owner_userid == userid]  # not reassigned meanwhile
    if not mine:
        ctx.note(f"{len(ids)} lead(s) for {userid}: none is his any more")
        return
    # the message first: making her QR code waits on WeCom, and no write of ours waits with it
    text = _one(ctx, mine[0], userid) if len(mine) == 1 else _digest(ctx, mine, userid)
    _start_sla(ctx, mine)
    key = f"assigned:{userid}:{ids[0]}:{len(ids)}:{event.create_time}"
    outbox.notify(ctx, key, userid, text, commit=False)  # its outcome commits with the event's
    ctx.note(f"{len(mine)} lead(s) assigned to {userid}, told")


def _start_sla(ctx: Context, leads: list[Contact]) -> None:
    sla = next(
        (s for s in playbook.configured(ctx.settings) if s.id == playbook.FOLLOWUP_SLA), None
    )
    if sla is None:
        return
    now = ctx.clock.now()
    since = [contact.assigned_at or now for contact in leads]
    started = [(planner.contact_target(c.id), f"assigned:{at.isoformat()}", at)
               for c, at in zip(leads, since, strict=True)]  # fmt: skip
    for start in range(0, len(started), SLA_CHUNK):  # a job run again plans none twice
        planner.plan_each(ctx.session.connection(), sla, started[start : start + SLA_CHUNK],
                          ctx.settings.tz, now)  # fmt: skip
        ctx.session.commit()


def _summary(ctx: Context, contact: Contact) -> str:
    channel = ctx.settings.channel(contact.channel_code)
    parts = [contact.phone, contact.city, contact.stage or "",
             channel.name if channel else contact.channel_code, contact.source]  # fmt: skip
    return " · ".join(part for part in parts if part)


def _one(ctx: Context, contact: Contact, userid: str) -> str:
    lines = [f"新线索分配给你：{contact.name or '未命名客户'}（编号 {contact.id}）",
             _summary(ctx, contact)]  # fmt: skip
    if contact.due_date:
        lines.append(f"预产期：{contact.due_date:%Y-%m-%d}")
    if contact.baby_birthday:
        lines.append(f"宝宝生日：{contact.baby_birthday:%Y-%m-%d}")
    if contact.added_at is None:  # nobody's WeCom customer yet
        qr = _add_way(ctx, contact, userid)
        if qr and _bot_sends(ctx, contact, userid, qr):
            lines.append("她是先找机器人咨询的，机器人已把你的二维码发给她；她扫码添加后会自动"
                         f"关联。也可以把这个二维码发给她：{qr}")  # fmt: skip
        else:
            how = f"用手机号 {contact.phone} 搜索添加" if contact.phone else "请尽快联系她"
            lines.append(f"她还不是你的企业微信客户：{how}" + (
                f"，或把这个二维码发给她扫码：{qr}" if qr else "。"))  # fmt: skip
    lines.append(f"跟进后回复「跟进 {contact.id} 备注」记录。")
    return "\n".join(line for line in lines if line)


def _bot_sends(ctx: Context, contact: Contact, userid: str, qr: str) -> bool:
    """A mother who talked to the welcome bot first gets her advisor's QR code from the bot,
    while its window is open; True if she got it."""
    talk = kf_store.find_dialog(ctx.session, contact.external_userid or "")
    if talk is None or not outbox.window_open(ctx, talk):
        return False
    name = advisors.advisor_name(ctx, userid, advisors.NEUTRAL)
    text = f"已为你安排专属育儿顾问{name}，扫码添加后可以一对一咨询，孕育路上的问题随时问：{qr}"
    return outbox.say(ctx, contact, talk, text, f"lead-way:{contact.id}")


def _digest(ctx: Context, leads: list[Contact], userid: str) -> str:
    lines = [f"新分配给你 {len(leads)} 条线索，请尽快添加并跟进："]
    for contact in leads[:DIGEST_LINES]:
        lines.append(
            f"· {contact.name or '未命名客户'}（编号 {contact.id}）{_summary(ctx, contact)}"
        )
    if len(leads) > DIGEST_LINES:
        lines.append(f"……另有 {len(leads) - DIGEST_LINES} 条")
    bot_first = [c for c in leads if c.added_at is None and c.external_userid]
    sent = sum(
        1 for c in bot_first if (qr := _add_way(ctx, c, userid)) and _bot_sends(ctx, c, userid, qr)
    )
    if sent:
        lines.append(
            f"其中 {sent} 位先找机器人咨询过，机器人已把你的二维码发给她们；扫码添加后会自动关联。"
        )
    lines.append("跟进后回复「跟进 编号 备注」记录。")
    return "\n".join(lines)


def _add_way(ctx: Context, contact: Contact, userid: str) -> str:
    """A QR code that adds her to this advisor and tells mombot who she is (state lead:<id>),
    made once per lead; "" when WeCom would not make one (she can still be added by phone)."""
    code = f"lead:{contact.id}"
    stored = channels.get(ctx.session, code)
    if stored is not None and stored.qr_code:
        return stored.qr_code
    way = {"state": code, "user": [userid], "skip_verify": True,
           "remark": (contact.name or code)[:30]}  # fmt: skip
    try:
        config_id, qr = externalcontact.add_contact_way(
            ctx.wecom("contact"), way, externalcontact.SINGLE
        )
    except WeComError as exc:
        if is_transient(exc):
            raise
        ctx.warn(f"no contact way for lead {contact.id}: {exc}")
        return ""
    # made once: kept with the notice's claim, which commits before the notice goes out
    channels.save(ctx.session, code, config_id, qr, "", ctx.clock.now())
    return qr


@on("event", scoring.CROSSED)
def score_crossed(event: Event, ctx: Context) -> None:
    ids = set(merges.resolve_all(ctx.session, inbox.announced(event.fields)))
    found = contacts.by_ids(ctx.session, sorted(ids))
    told = 0
    for contact in found.values():
        hot = contact.score >= ctx.settings.scoring.threshold
        _hot_tag(ctx, contact, hot)
        if hot and contact.owner_userid:
            text = _hot(ctx, contact)
            told += outbox.notify(ctx, f"hot:{contact.id}", contact.owner_userid, text)
    ctx.note(f"{len(found)} lead(s) crossed the score threshold; {told} advisor notice(s)")


def _hot_tag(ctx: Context, contact: Contact, hot: bool) -> None:
    """Give her the 高意向 tag in WeCom (or take it away), as her advisor sees her."""
    if (contact.external_userid is None or not contacts.wecom_userid(contact)
            or contact.status == ContactStatus.LOST):  # fmt: skip
        return
    name, group = ctx.settings.scoring.hot_tag, ctx.settings.scoring.tag_group
    if hot == (name in contact_tags.names(ctx.session, contact.id)):
        return
    try:
        ids = tags.mark(ctx.session, ctx.wecom("contact"), contacts.wecom_userid(contact),
                        contact.external_userid, group, [name], remove=not hot)  # fmt: skip
    except WeComError as exc:
        if is_transient(exc):
            raise
        ctx.warn(f"{name} tag of contact {contact.id} not {'set' if hot else 'removed'}: {exc}")
        return
    if hot:
        tagging.record(ctx, contact, {tag_id: (name, group) for tag_id in ids.values()})
    else:
        contact_tags.update(ctx.session, contact.id, {}, set(ids.values()), ctx.clock.now())
    ctx.session.commit()


def _hot(ctx: Context, contact: Contact) -> str:
    history = signals.of(ctx.session.connection(), [contact.id])[contact.id]
    items = scoring.breakdown(ctx.settings, history, ctx.clock.now())
    name = contact.name or "未命名客户"
    lines = [f"高意向客户：{name}（编号 {contact.id}）评分 {contact.score}，建议今天跟进。",
             "评分明细："]  # fmt: skip
    lines += [f"· {item.text()}" for item in items]
    lines.append(f"跟进后回复「跟进 {contact.id} 备注」记录。")
    return "\n".join(lines)
