"""The welcome bot's conversation: learn whether she is 备孕, pregnant or already a mother, get
the due date or the birthday in her own words, confirm it back, and record it.

States (persisted in `dialogs`, so a restart resumes): new → ask_status → ask_due /
ask_birthday → confirm → done. At any point: 退订 records an opt-out; 人工/顾问/客服, a
question the bot cannot answer, or two answers it could not understand hand her over to her
advisor with a summary.
"""

from __future__ import annotations

import re
from datetime import date

from crm import advisors, dates, outbox, stages
from crm.context import Context
from sop import lifecycle
from store.models import Contact, Dialog

OPT_OUT = re.compile(r"退订|不要再发|别再发|不要发了|取消订阅|别发了")
HUMAN = re.compile(r"人工|顾问|客服|真人|转人")
YES = re.compile(r"^(对|对的|是|是的|没错|正确|嗯+|好的?|ok|OK|yes|对啊|是啊)[!！。.～~]*$")
NO = re.compile(r"不对|不是|错了|不准|有误")
QUESTION = re.compile(r"[?？]|吗$|怎么|为什么|多少|哪里|能不能|可以.*吗|有没有")
PREPARING = re.compile(r"备孕|准备要|想要宝宝|还没怀")
PREGNANT = re.compile(r"怀孕|怀了|孕期|有了|孕妇|怀上")
MOTHER = re.compile(r"生了|出生了|已经生|宝宝\d|娃\d|宝宝出生|是妈妈|当妈")

GREETING = (
    "你好呀，我是孕育小助手～为了给你推送合适的内容，想先了解一下："
    "你现在是在备孕、已经怀孕，还是宝宝已经出生啦？"
)
ASK_DUE = "恭喜你！预产期是哪一天呢？也可以直接告诉我现在孕几周～"
ASK_BIRTHDAY = "恭喜当妈妈啦！宝宝是哪天出生的呀？也可以告诉我宝宝现在多大了～"
RETRY = "抱歉，我没太看明白～可以告诉我预产期（比如“预产期3月15日”），或者宝宝的生日吗？"
ASK_AGAIN = "好的，那正确的日期是哪天呢？"
OPTED_OUT = "好的，已为你退订自动推送，之后不会再主动打扰你。需要帮助时随时给我留言～"
PREPARING_SAVED = "好的，备孕也很重要！之后我会给你推送备孕期的知识和清单～"


def _day(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def greeting(ctx: Context, contact: Contact, talk: Dialog) -> str:
    """What she hears when she opens the bot; nothing if we already know her dates."""
    if contact.due_date or contact.baby_birthday or talk.state == "done":
        return ""
    talk.state = "ask_status"
    ctx.session.add(talk)
    return GREETING


def _hand_over(ctx: Context, contact: Contact, talk: Dialog, text: str, reason: str) -> list[str]:
    name = contact.name or "未命名客户"
    summary = (
        f"微信客服转人工：客户「{name}」{reason}。\n她说：{text}\n阶段：{contact.stage or '未登记'}"
    )
    for userid in advisors.responsible(ctx, contact):
        outbox.notify(ctx, f"handover:{contact.external_userid}:{talk.id}:{talk.updated_at}",
                     userid, summary)  # fmt: skip
    talk.state, talk.failures = "handover", 0
    advisor = advisors.advisor_name(ctx, contact.owner_userid) if contact.owner_userid else "顾问"
    return [f"好的，已经请{advisor}尽快联系你，请稍等～"]


def _confirm(talk: Dialog, found: dates.Parsed, today: date) -> list[str]:
    talk.state, talk.pending_kind, talk.pending_date = "confirm", found.kind, found.date
    if found.kind == dates.DUE:
        now = stages.gestational_age(today, found.date)
        return [f"好的，预产期是{_day(found.date)}，现在{now}，对吗？"]
    return [f"好的，宝宝生日是{_day(found.date)}，现在{stages.baby_age(today, found.date)}，对吗？"]


def _save(ctx: Context, contact: Contact, talk: Dialog, today: date) -> list[str]:
    due = talk.pending_date if talk.pending_kind == dates.DUE else None
    birthday = talk.pending_date if talk.pending_kind == dates.BIRTHDAY else None
    lifecycle.set_dates(ctx, contact, due_date=due, birthday=birthday)
    talk.state, talk.pending_kind, talk.pending_date, talk.failures = "done", None, None, 0
    where = f"你现在处于{contact.stage}，" if contact.stage else ""
    return [f"已记下！{where}接下来我会按阶段给你推送实用的内容，有问题随时问我～"]


def on_message(ctx: Context, contact: Contact, talk: Dialog, text: str) -> list[str]:
    """Her message in, the bot's replies out; state changes are left in the session."""
    today = ctx.clock.now().date()
    talk.updated_at = ctx.clock.now()
    ctx.session.add(talk)
    text = text.strip()
    if OPT_OUT.search(text):
        contact.opted_out = True
        ctx.session.add(contact)
        return [OPTED_OUT]
    if HUMAN.search(text):
        return _hand_over(ctx, contact, talk, text, "请求人工服务")
    if talk.state == "confirm" and YES.match(text):
        return _save(ctx, contact, talk, today)
    expect = {"ask_due": dates.DUE, "ask_birthday": dates.BIRTHDAY}.get(talk.state)
    expect = talk.pending_kind if talk.state == "confirm" else expect
    found = dates.parse(text, today, expect) if text else dates.NOTHING
    if found.vague_months:
        talk.state = "ask_due"
        months = int(re.search(r"(\d+)", dates.digits(text)).group(1))
        return [f"孕{months}个月大约是孕{4 * months - 3}–{4 * months + 2}周，"
                "能告诉我具体是孕几周，或者预产期是哪天吗？"]  # fmt: skip
    if found.kind != dates.NONE:
        talk.failures = 0
        return _confirm(talk, found, today)
    if talk.state == "confirm" and NO.search(text):
        talk.state = "ask_due" if talk.pending_kind == dates.DUE else "ask_birthday"
        return [ASK_AGAIN]
    if PREPARING.search(text):
        lifecycle.set_dates(ctx, contact, trying=True)
        talk.state = "done"
        return [PREPARING_SAVED]
    if MOTHER.search(text):
        talk.state = "ask_birthday"
        return [ASK_BIRTHDAY]
    if PREGNANT.search(text):
        talk.state = "ask_due"
        return [ASK_DUE]
    if QUESTION.search(text):
        return _hand_over(ctx, contact, talk, text, "问了机器人答不了的问题")
    if talk.state in ("new", "handover", "done"):
        talk.state = "ask_status"
        return [GREETING]
    talk.failures += 1
    if talk.failures >= 2:
        return _hand_over(ctx, contact, talk, text, "两次回答机器人都没能识别")
    return [RETRY]
