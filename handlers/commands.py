"""What staff write to the app: 跟进 (log a follow-up), 认领 (claim a lead from the public
pool), 有意向 / 签约 / 流失 (move a lead through the funnel), 流失原因, 帮助. Each answer is an
app message, sent once per message (ledger)."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable

from crm import advisors, leads, outbox
from crm.context import Context
from handlers import on
from sop import planner, playbook
from store import followups
from store.models import Contact, ContactStatus, LeadEvent, LeadSource
from wecom import externalcontact
from wecom.callbacks import TextMessage
from wecom.client import WeComError, is_transient

log = logging.getLogger(__name__)

HELP = (
    "可以这样回复我：\n"
    "跟进 编号 备注 —— 记录一次跟进，例如：跟进 12 已电话沟通，下周到店\n"
    "认领 编号 —— 认领公海里的客户\n"
    "有意向 编号 [备注] —— 客户有购买意向\n"
    "签约 编号 [金额] [备注] —— 客户已签约，例如：签约 12 3980\n"
    "流失 编号 原因 —— 客户已流失，例如：流失 12 价格太高\n"
    "流失原因 —— 看可选的流失原因\n"
    "编号在提醒消息里，写在客户名字后面。"
)
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
    return f"已记录对「{contact.name or '未命名客户'}」的跟进。" + (
        f"\n备注：{note}" if note else ""
    )


def claim(ctx: Context, userid: str, args: list[str]) -> str:
    contact = _contact(ctx, args[0]) if args else None
    if contact is None:
        return "没找到这位客户，请写上公海提醒里的编号，例如：认领 12"
    name = contact.name or "未命名客户"
    rules = ctx.settings.followup
    pool = rules.pool_advisors or {a for c in ctx.settings.channels for a in c.advisors}
    if not rules.public_pool or userid not in pool:
        return "你不在公海认领名单里；需要的话请联系管理员。"
    if contact.pooled_at is None or contact.status == ContactStatus.LOST:
        return f"客户「{name}」不在公海里（可能已经被认领）。"
    previous, now = contact.owner_userid, ctx.clock.now()
    if userid == previous:
        return f"客户「{name}」本来就是你负责的，直接跟进就好。"
    if not followups.claim(ctx.session, contact.id, userid, now):
        return f"客户「{name}」已经被其他顾问认领了。"
    try:
        errcode = externalcontact.transfer_customer(
            ctx.wecom("contact"), previous, userid, contact.external_userid,
            "你好，之后由我来为你服务，有任何问题都可以找我～",
        )  # fmt: skip
    except WeComError as exc:
        if is_transient(exc):
            raise  # the claim is rolled back with the session; the message is handled again
        errcode = exc.errcode
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
    return (f"认领成功：客户「{name}」转给你了（她会收到转接提示）。"
            f"请尽快跟进，跟进后回复「跟进 {contact.id} 备注」。")  # fmt: skip


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
    "认领": claim,
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
    outbox.notify(ctx, f"reply:{event.msg_id or event.create_time}", event.from_user, answer)
