"""What staff write to the app: 跟进 (log a follow-up), 公海 / 认领 / 放弃 (the public pool: what
is in it, claim a lead, give one back), 有意向 / 签约 / 流失 (move a lead through the funnel),
流失原因, /report (handlers.report), 帮助. Each answer is an app message, sent once per message
(ledger)."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable

from crm import advisors, leads, outbox, pool, scoring
from crm.context import Context
from handlers import on, report
from handlers.report import WORDS as REPORT_WORDS
from sop import planner, playbook
from store import followups
from store import pool as pool_store
from store.models import Contact, ContactStatus, LeadEvent, LeadSource
from wecom import externalcontact
from wecom.callbacks import TextMessage
from wecom.client import WeComError, is_transient

log = logging.getLogger(__name__)

HELP = (
    "可以这样回复我：\n"
    "跟进 编号 备注 —— 记录一次跟进，例如：跟进 12 已电话沟通，下周到店\n"
    "公海 —— 看公海里等待认领的客户\n"
    "认领 编号 —— 认领公海里的客户\n"
    "放弃 编号 [原因] —— 把自己的客户放回公海\n"
    "有意向 编号 [备注] —— 客户有购买意向\n"
    "签约 编号 [金额] [备注] —— 客户已签约，例如：签约 12 3980\n"
    "流失 编号 原因 —— 客户已流失，例如：流失 12 价格太高\n"
    "流失原因 —— 看可选的流失原因\n"
    "/report [时间] [渠道|顾问|阶段|SOP] —— 看报表，例如：/report 本周 渠道\n"
    "编号在提醒消息里，写在客户名字后面。"
)
POOL_LINES = 10  # leads 公海 lists
_NUMBER = re.compile(r"[0-9]{1,9}")  # a contact's number as reminders show it (ASCII digits)
# a command glued to its number (签约12 3980), as people type on a phone
_GLUED = re.compile(r"^(\D+?)\s*([0-9]{1,9})(?:\s+(.*))?$", re.DOTALL)


def _contact(ctx: Context, number: str) -> Contact | None:
    return ctx.session.get(Contact, int(number)) if _NUMBER.fullmatch(number) else None


def follow_up(ctx: Context, userid: str, args: list[str]) -> str:
    contact = _contact(ctx, args[0]) if args else None
    if contact is None:
        return "没找到这位客户，请写上提醒里的编号，例如：跟进 12 已电话沟通"
    if userid != contact.owner_userid and userid not in ctx.settings.report.managers:
        return f"客户「{contact.name or contact.id}」不是你负责的，不能替别人记录跟进。"
    note = args[1] if len(args) > 1 else ""
    followups.log(ctx.session, contact, userid, note, ctx.clock.now())
    scoring.recount(ctx.session, ctx.settings, [contact.id], ctx.clock.now())
    return f"已记录对「{contact.name or '未命名客户'}」的跟进。" + (
        f"\n备注：{note}" if note else ""
    )


def claim(ctx: Context, userid: str, args: list[str]) -> str:
    contact = _contact(ctx, args[0]) if args else None
    if contact is None:
        return "没找到这位客户，请写上公海提醒里的编号，例如：认领 12"
    name = contact.name or "未命名客户"
    rules = ctx.settings.followup
    if not rules.public_pool or userid not in pool.pool_advisors(ctx.settings):
        return "你不在公海认领名单里；需要的话请联系管理员。"
    if contact.pooled_at is None or contact.status == ContactStatus.LOST:
        return f"客户「{name}」不在公海里（可能已经被认领）。"
    previous, now = contact.owner_userid, ctx.clock.now()
    if userid == previous:
        return f"客户「{name}」本来就是你负责的，直接跟进就好。"
    refusal = pool.refusal(ctx, contact, userid)
    if refusal:
        return refusal
    if not followups.claim(ctx.session, contact.id, userid, now):
        return f"客户「{name}」已经被其他顾问认领了。"
    pool_store.claimed(ctx.session, contact.id, userid, now)
    errcode = _transfer(ctx, contact, previous, userid) if contact.external_userid else 0
    if errcode:
        ctx.session.rollback()
        log.warning("transfer of contact %d to %s refused: %s", contact.id, userid, errcode)
        return f"认领没有成功：企业微信拒绝了转接（错误码 {errcode}），客户仍在公海。"
    ctx.session.refresh(contact)
    sla = next((s for s in playbook.configured(ctx.settings) if s.id == playbook.FOLLOWUP_SLA),
               None)  # fmt: skip
    if sla is not None:  # her new advisor's clock starts now
        planner.plan(ctx.session.connection(), sla, planner.contact_target(contact.id),
                     f"claimed:{int(now.timestamp())}", now, ctx.settings.tz, now)  # fmt: skip
    ctx.session.commit()
    taker = advisors.advisor_name(ctx, userid, userid)
    outbox.notify(ctx, f"claimed:{contact.id}:{now.isoformat()}", previous,
                 f"客户「{name}」超时未跟进，已由{taker}认领。")  # fmt: skip
    if contact.external_userid and previous:
        how = "转给你了（她会收到转接提示）"
    else:  # nobody had her in WeCom: the advisor adds her
        how = "归你了；她还不是你的企业微信客户，" + (
            f"请用手机号 {contact.phone} 搜索添加" if contact.phone else "请尽快联系她"
        )
    return (f"认领成功：客户「{name}」{how}。"
            f"请尽快跟进，跟进后回复「跟进 {contact.id} 备注」。")  # fmt: skip


def give_up(ctx: Context, userid: str, args: list[str]) -> str:
    """Her advisor gives her back to the pool, for another advisor to try."""
    if not ctx.settings.followup.public_pool:
        return "没有开启公海，不能放弃客户；需要的话请联系管理员。"
    contact = _lead(ctx, userid, args, "放弃 12 联系不上")
    name = _name(contact)
    if contact.pooled_at is not None:
        return f"客户「{name}」已经在公海里了。"
    if contact.status in (ContactStatus.SIGNED, ContactStatus.LOST):
        return f"客户「{name}」已经{leads.label(contact.status)}，不用放回公海。"
    now = ctx.clock.now()
    pool_store.put(ctx.session, contact, now, pool.GIVEN_UP, by=userid, source=LeadSource.APP,
                   note=" ".join(args[1:]))  # fmt: skip
    ctx.session.commit()
    pool.offer(ctx, contact, f"given-up:{contact.id}:{now.isoformat()}", pool.GIVEN_UP)
    days = ctx.settings.followup.reclaim_after_days
    return f"已把客户「{name}」放回公海，其他顾问可以认领。" + (
        f"{days} 天内你不能再认领她。" if days else ""
    )


def in_pool(ctx: Context, userid: str, _args: list[str]) -> str:
    """The leads waiting in the pool, the longest waiting first."""
    if not ctx.settings.followup.public_pool:
        return "没有开启公海。"
    waiting = pool_store.waiting(ctx.session.connection(), POOL_LINES + 1)
    if not waiting:
        return "公海里现在没有等待认领的客户。"
    more = f"（等得最久的 {POOL_LINES} 位）" if len(waiting) > POOL_LINES else ""
    lines = [f"公海里等待认领的客户{more}："]
    for row in waiting[:POOL_LINES]:
        lines.append(f"· {row.name or '未命名客户'}（编号 {row.id}）{row.stage or '未登记'}")
    lines.append("回复「认领 编号」认领。")
    return "\n".join(lines)


def _transfer(ctx: Context, contact: Contact, previous: str, userid: str) -> int:
    """Move her in WeCom from the advisor who has her to the one who claimed her (在职继承);
    WeCom's errcode, 0 when it took it. She is in nobody's WeCom before an advisor was ever
    hers: nothing to move."""
    if not previous:
        return 0
    try:
        return externalcontact.transfer_customer(
            ctx.wecom("contact"), previous, userid, contact.external_userid or "",
            "你好，之后由我来为你服务，有任何问题都可以找我～",
        )  # fmt: skip
    except WeComError as exc:
        if is_transient(exc):
            raise  # the claim is rolled back with the session; the message is handled again
        return exc.errcode


def _lead(ctx: Context, userid: str, args: list[str], example: str) -> Contact:
    contact = _contact(ctx, args[0]) if args else None
    if contact is None:
        raise leads.Refused(f"没找到这位客户，请写上提醒里的编号，例如：{example}")
    if not leads.may_move(ctx, userid, contact):
        raise leads.Refused(f"客户「{_name(contact)}」不是你负责的，不能替别人更改状态。")
    return contact


def _name(contact: Contact) -> str:
    return contact.name or f"未命名客户 {contact.id}"


def _moved(ctx: Context, userid: str, contact: Contact, was: str, step: LeadEvent | None) -> str:
    if step is not None:
        ctx.note(f"lead {contact.id} {was} -> {contact.status} by {userid}")
    if step is None:
        return f"客户「{_name(contact)}」本来就是{leads.label(contact.status)}，没有改动。"
    changed = f"（原为{leads.label(was)}）" if was != contact.status else ""
    return f"已将客户「{_name(contact)}」标为{leads.label(contact.status)}{changed}。"


def interested(ctx: Context, userid: str, args: list[str]) -> str:
    contact = _lead(ctx, userid, args, "有意向 12")
    was = contact.status
    step = leads.move(ctx, contact, ContactStatus.INTERESTED, source=LeadSource.APP,
                      actor=userid, note=" ".join(args[1:]))  # fmt: skip
    return _moved(ctx, userid, contact, was, step)


def signed(ctx: Context, userid: str, args: list[str]) -> str:
    contact = _lead(ctx, userid, args, "签约 12 3980")
    rest = " ".join(args[1:]).split(maxsplit=1)
    amount = None
    if rest:
        try:
            amount = leads.amount_cents(rest[0])
            rest.pop(0)
        except leads.Refused:
            if re.match(r"^[¥￥0-9]", rest[0]):  # meant as an amount: say so
                raise
            # words (年卡, 一次性付清): the note
    was = contact.status
    step = leads.move(ctx, contact, ContactStatus.SIGNED, source=LeadSource.APP, actor=userid,
                      note=" ".join(rest), amount=amount)  # fmt: skip
    answer = _moved(ctx, userid, contact, was, step)
    if amount is not None:
        answer += f"\n签约金额：{amount / 100:,.2f} 元"
    return answer


def lost(ctx: Context, userid: str, args: list[str]) -> str:
    contact = _lead(ctx, userid, args, "流失 12 价格太高")
    words = " ".join(args[1:]).split(maxsplit=1)
    reason = leads.lost_reason(ctx, words[0] if words else "")
    was = contact.status
    step = leads.move(ctx, contact, ContactStatus.LOST, source=LeadSource.APP, actor=userid,
                      reason=reason, note=words[1] if len(words) > 1 else "")  # fmt: skip
    return _moved(ctx, userid, contact, was, step) + (f"\n流失原因：{reason}" if step else "")


def lost_reasons(ctx: Context, _userid: str, _args: list[str]) -> str:
    return "可选的流失原因：" + "、".join(ctx.settings.leads.lost_reasons)


COMMANDS: dict[str, Callable[[Context, str, list[str]], str]] = {
    "跟进": follow_up,
    "公海": in_pool,
    "认领": claim,
    "放弃": give_up,
    "有意向": interested,
    "签约": signed,
    "流失": lost,
    "流失原因": lost_reasons,
}


def _words(content: str) -> list[str]:
    """[command, number, rest] as written: 签约 12 3980, or glued: 签约12 3980."""
    text = content.strip().removeprefix("/")
    words = text.split(maxsplit=2)
    if words and words[0] not in COMMANDS and (glued := _GLUED.match(text)):
        return [part for part in glued.groups() if part]
    return words


def _unknown(word: str) -> str:
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.5)
    return (f"没看懂「{word}」，你是不是想说「{close[0]}」？\n\n" if close else "") + HELP


@on("text")
def staff_wrote(event: TextMessage, ctx: Context) -> None:
    key = f"reply:{event.msg_id or event.create_time}"
    asked = event.content.strip().removeprefix("/").split(maxsplit=1)
    if asked and asked[0].lower() in REPORT_WORDS:
        report.answer(ctx, event.from_user, asked[1] if len(asked) > 1 else "", key)
        return
    words = _words(event.content)
    command = COMMANDS.get(words[0]) if words else None
    if command is None:
        answer = _unknown(words[0]) if words else HELP
    else:
        try:
            answer = command(ctx, event.from_user, words[1:])
        except leads.Refused as exc:  # nothing changed; the sender is told why
            ctx.session.rollback()
            answer = str(exc)
    ctx.session.commit()
    outbox.notify(ctx, key, event.from_user, answer)
