"""The public pool (公海): why a lead goes in (超时回收, 主动放弃, 离职, 管理员, or no rule could
assign her), who may take her out (the pool's advisors, within a daily cap, not the advisor
who just let her go), and what happens to an advisor's leads when he leaves the company."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import select

from crm import advisors, assign, outbox
from crm.config import Settings
from crm.context import Context
from store import leads, pool
from store.models import Contact, LeadSource
from wecom import externalcontact
from wecom.client import WeComError, is_transient

log = logging.getLogger(__name__)

TIMEOUT, GIVEN_UP, LEFT, ADMIN = "超时回收", "主动放弃", "离职", "管理员"  # and assign.NOBODY
TRANSFER_BATCH = 100  # resigned/transfer_customer takes at most 100 customers


def pool_advisors(settings: Settings) -> list[str]:
    rules = settings.followup
    return rules.pool_advisors or sorted({a for c in settings.channels for a in c.advisors})


def offer(ctx: Context, contact: Contact, key: str, reason: str) -> None:
    """Tell the pool's advisors (but the one who let her go) that she can be claimed."""
    name, stage = contact.name or "未命名客户", contact.stage or "未登记"
    offer_text = (f"公海线索：客户「{name}」（阶段：{stage}，{reason}）等待跟进。\n"
                  f"回复「认领 {contact.id}」认领她。")  # fmt: skip
    for userid in pool_advisors(ctx.settings):
        if userid != contact.owner_userid:
            outbox.notify(ctx, f"{key}:pool:{userid}", userid, offer_text)


def refusal(ctx: Context, contact: Contact, userid: str) -> str:
    """Why this advisor may not claim her now (in words for him); "" if he may."""
    rules, now = ctx.settings.followup, ctx.clock.now()
    connection = ctx.session.connection()
    if rules.claim_daily_cap:
        local = now.astimezone(ctx.settings.tz)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        claimed = pool.claims_since(connection, userid, day_start)
        if claimed >= rules.claim_daily_cap:
            cap = rules.claim_daily_cap
            return f"你今天已认领 {claimed} 位公海客户，达到每天 {cap} 位的上限，明天再来吧。"
    released = pool.released_by(connection, contact.id, userid)
    cool_down = timedelta(days=rules.reclaim_after_days)
    if released is not None and now - released < cool_down:
        again = (released + cool_down).astimezone(ctx.settings.tz)
        return (f"客户「{contact.name or '未命名客户'}」是你放回公海的，"
                f"{again:%m月%d日 %H:%M} 之后才能再认领。")  # fmt: skip
    return ""


def advisor_left(ctx: Context, userid: str, successor: str | None) -> tuple[int, int]:
    """An advisor left the company: each of his open leads goes to the successor (moved in
    WeCom by 离职继承, the successor told once of all of them) or, without one, to the pool.
    Returns (moved, pooled)."""
    now = ctx.clock.now()
    open_leads = list(ctx.session.exec(select(Contact).where(
        Contact.owner_userid == userid, Contact.status.in_(leads.OPEN)
    )))  # fmt: skip
    if successor is None:
        for contact in open_leads:
            pool.put(ctx.session, contact, now, LEFT, by=userid, source=LeadSource.ADMIN)
        ctx.session.commit()
        return 0, len(open_leads)
    refused = _transfer(ctx, userid, successor, [c for c in open_leads if c.external_userid])
    name = advisors.advisor_name(ctx, userid, userid)
    moved = []
    for contact in open_leads:
        if contact.external_userid in refused:
            pool.put(ctx.session, contact, now, LEFT, by=userid, source=LeadSource.ADMIN,
                     note=f"企业微信拒绝转接：{refused[contact.external_userid]}")  # fmt: skip
            continue
        contact.handover_userid = userid if contact.external_userid else None
        leads.assign(ctx.session, contact, successor, now, f"离职交接：{name}的客户转给{successor}")
        moved.append(contact.id)
    if moved:
        assign.tell(ctx.session.connection(), {successor: moved}, now)
    ctx.session.commit()
    return len(moved), len(open_leads) - len(moved)


def _transfer(ctx: Context, userid: str, successor: str, people: list[Contact]) -> dict[str, int]:
    """离职继承 in WeCom, 100 at a time; the customers WeCom refused, with its errcode."""
    refused: dict[str, int] = {}
    ids = [c.external_userid or "" for c in people]
    for start in range(0, len(ids), TRANSFER_BATCH):
        batch = ids[start : start + TRANSFER_BATCH]
        try:
            answers = externalcontact.transfer_resigned(ctx.wecom("contact"), userid, successor,
                                                        batch)  # fmt: skip
        except WeComError as exc:
            if is_transient(exc):
                raise
            answers = dict.fromkeys(batch, exc.errcode)
        refused |= {ext: code for ext, code in answers.items() if code}
    if refused:
        log.warning("%d of %s's customers not moved to %s by WeCom", len(refused), userid,
                    successor)  # fmt: skip
    return refused
