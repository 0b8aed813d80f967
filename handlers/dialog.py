"""The welcome bot's conversation: learn whether she is 备孕, pregnant or already a mother, get
the due date or the birthday in her own words, confirm it back, and record it.

The dialog is a small state machine, persisted in `dialogs` (state, failures, pending kind and
date), so a restart resumes. Each message is handled in three steps:

1. `classify` reads her text, in the state she is in, as one `Intent` (first match wins:
   opt-out, a person, YES, a vague pregnancy month, a 农历 month the year has twice, a date,
   NO, 备孕, a mother, pregnant, a question, unclear). YES and NO are read only while
   confirming; a date is parsed expecting what she was just asked for (the pending kind while
   confirming).
2. `TABLE` maps (state, intent) to a pure transition, the exact state first, then any state
   (`ANY`). A transition returns a `Step`: the next state and dialog fields, the replies, and
   the effect to carry out.
3. `on_message` carries out the effect (opt-out, hand-over notice, saving the dates) and
   updates the dialog row; replies that need what only it knows (her advisor's name, her
   stage after saving) are templates it fills in.

    state              intent         next state                              effect
    *                  OPT_OUT        (stays)                                 opt out
    *                  HUMAN          handover                                hand over
    confirm            YES            done                                    save the pending date
    *                  VAGUE_MONTHS   ask_due, asking for the week
    *                  LEAP_MONTH     (stays; from confirm: asking its kind), asking which month
    *                  DATE           confirm, the date pending
    confirm            NO             ask_due or ask_birthday (pending kind)
    *                  PREPARING      done                                    trying (备孕)
    *                  MOTHER         ask_birthday
    *                  PREGNANT       ask_due
    *                  QUESTION       handover                                hand over
    new|handover|done  UNCLEAR        ask_status, greeting her again
    *                  UNCLEAR        (stays), asking again;
                                      the second time handover                hand over

Unclear answers are counted in `failures`; a date, a save or a hand-over resets the count.
`greeting` (she opened the bot) greets her and moves to ask_status unless her dates are known
or the dialog is done.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

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
# templates: on_message fills in {advisor} after a hand-over, {where} (her stage) after a save
HANDED_OVER = "好的，已经请{advisor}尽快联系你，请稍等～"
SAVED = "已记下！{where}接下来我会按阶段给你推送实用的内容，有问题随时问我～"

ASKED_REASON = "请求人工服务"
QUESTION_REASON = "问了机器人答不了的问题"
UNREADABLE_REASON = "两次回答机器人都没能识别"
MAX_FAILURES = 2


class State(StrEnum):
    """Where the conversation is; the values are what `dialogs.state` stores."""

    NEW = "new"
    ASK_STATUS = "ask_status"  # greeted: 备孕, pregnant or a mother?
    ASK_DUE = "ask_due"
    ASK_BIRTHDAY = "ask_birthday"
    CONFIRM = "confirm"  # a pending date read back to her
    DONE = "done"
    HANDOVER = "handover"  # her advisor was asked to take over


class Intent(StrEnum):
    """What her message says, as far as the bot can tell; in order of precedence."""

    OPT_OUT = "opt_out"
    HUMAN = "human"
    YES = "yes"  # only while confirming
    VAGUE_MONTHS = "vague_months"  # 孕6个月: several weeks, ask for the week
    LEAP_MONTH = "leap_month"  # 农历六月 in a year with 闰六月: ask which of the two
    DATE = "date"  # a due date or a birthday
    NO = "no"  # only while confirming
    PREPARING = "preparing"
    MOTHER = "mother"
    PREGNANT = "pregnant"
    QUESTION = "question"
    UNCLEAR = "unclear"


# what the text says when it gives no date, first match wins
_WORDS = (
    (Intent.PREPARING, PREPARING),
    (Intent.MOTHER, MOTHER),
    (Intent.PREGNANT, PREGNANT),
    (Intent.QUESTION, QUESTION),
)
# what she was just asked for, which decides for dates that say nothing themselves
_EXPECTED = {State.ASK_DUE: dates.DUE, State.ASK_BIRTHDAY: dates.BIRTHDAY}


@dataclass(frozen=True)
class Turn:
    """Her message as read in a state, with what a transition needs of the dialog."""

    state: State
    text: str
    intent: Intent
    today: date
    found: dates.Parsed  # the date she gave, for DATE and VAGUE_MONTHS
    failures: int
    pending_kind: str | None
    pending_date: date | None


@dataclass(frozen=True)
class OptOut:
    """She wants no more automated messages."""


@dataclass(frozen=True)
class HandOver:
    """Her advisor (or the managers) is asked to take over."""

    reason: str


@dataclass(frozen=True)
class SaveDate:
    """She confirmed the pending date: record it as her due date or her baby's birthday."""

    kind: str | None
    day: date | None


@dataclass(frozen=True)
class Trying:
    """She is preparing for a pregnancy (备孕)."""


Effect = OptOut | HandOver | SaveDate | Trying


@dataclass(frozen=True)
class Step:
    """What a transition decides: the dialog's next fields, the replies, the effect."""

    state: State
    replies: tuple[str, ...]
    failures: int
    pending_kind: str | None
    pending_date: date | None
    effect: Effect | None = None


Transition = Callable[[Turn], Step]


def _day(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def classify(
    state: State,
    text: str,
    today: date,
    *,
    pending_kind: str | None = None,
    pending_date: date | None = None,
    failures: int = 0,
) -> Turn:
    """Read her text in `state`; the pending kind decides what a date is while confirming,
    the pending date and the failures are carried along for the transition."""
    text = text.strip()
    intent, found = _read(state, text, today, pending_kind)
    return Turn(state, text, intent, today, found, failures, pending_kind, pending_date)


def _read(
    state: State, text: str, today: date, pending_kind: str | None
) -> tuple[Intent, dates.Parsed]:
    """Her intent, the first that matches in order of precedence, and the date she gave."""
    if OPT_OUT.search(text):
        return Intent.OPT_OUT, dates.NOTHING
    if HUMAN.search(text):
        return Intent.HUMAN, dates.NOTHING
    if state == State.CONFIRM and YES.match(text):
        return Intent.YES, dates.NOTHING
    expect = pending_kind if state == State.CONFIRM else _EXPECTED.get(state)
    found = dates.parse(text, today, expect) if text else dates.NOTHING
    if found.vague_months:
        return Intent.VAGUE_MONTHS, found
    if found.ambiguous:
        return Intent.LEAP_MONTH, found
    if found.kind != dates.NONE:
        return Intent.DATE, found
    if state == State.CONFIRM and NO.search(text):
        return Intent.NO, found
    return next((intent for intent, words in _WORDS if words.search(text)), Intent.UNCLEAR), found


# --- transitions: pure, from a Turn to a Step --------------------------------------------------


def _to(turn: Turn, state: State, reply: str, effect: Effect | None = None) -> Step:
    """Into `state` with one reply, keeping her failures and pending date."""
    return Step(state, (reply,), turn.failures, turn.pending_kind, turn.pending_date, effect)


def _opt_out(turn: Turn) -> Step:
    return _to(turn, turn.state, OPTED_OUT, OptOut())


def _hand_over(turn: Turn, reason: str) -> Step:
    return replace(_to(turn, State.HANDOVER, HANDED_OVER, HandOver(reason)), failures=0)


def _asked_for_a_person(turn: Turn) -> Step:
    return _hand_over(turn, ASKED_REASON)


def _save(turn: Turn) -> Step:
    return Step(State.DONE, (SAVED,), 0, None, None, SaveDate(turn.pending_kind, turn.pending_date))


def _ask_for_the_week(turn: Turn) -> Step:
    months = int(re.search(r"(\d+)", dates.digits(turn.text)).group(1))
    return _to(turn, State.ASK_DUE, f"孕{months}个月大约是孕{4 * months - 3}–{4 * months + 2}周，"
               "能告诉我具体是孕几周，或者预产期是哪天吗？")  # fmt: skip


LEAP_QUESTION = (
    "那一年农历有两个同名的月份（正常的和闰月），是哪一个呢？"
    "可以说“闰六月十五”这样，或者直接告诉我公历日期～"
)


def _ask_which_month(turn: Turn) -> Step:
    """A 农历 date whose month the year has twice: ask, never guess (a month apart)."""
    asking = {dates.DUE: State.ASK_DUE, dates.BIRTHDAY: State.ASK_BIRTHDAY}
    state = asking.get(turn.pending_kind, turn.state) if turn.state == State.CONFIRM else turn.state
    return _to(turn, state, LEAP_QUESTION)


def _confirm(turn: Turn) -> Step:
    found = turn.found
    if found.kind == dates.DUE:
        now = stages.gestational_age(turn.today, found.date)
        reply = f"好的，预产期是{_day(found.date)}，现在{now}，对吗？"
    else:
        now = stages.baby_age(turn.today, found.date)
        reply = f"好的，宝宝生日是{_day(found.date)}，现在{now}，对吗？"
    return Step(State.CONFIRM, (reply,), 0, found.kind, found.date)


def _ask_again(turn: Turn) -> Step:
    state = State.ASK_DUE if turn.pending_kind == dates.DUE else State.ASK_BIRTHDAY
    return _to(turn, state, ASK_AGAIN)


def _preparing(turn: Turn) -> Step:
    return _to(turn, State.DONE, PREPARING_SAVED, Trying())


def _mother(turn: Turn) -> Step:
    return _to(turn, State.ASK_BIRTHDAY, ASK_BIRTHDAY)


def _pregnant(turn: Turn) -> Step:
    return _to(turn, State.ASK_DUE, ASK_DUE)


def _question(turn: Turn) -> Step:
    return _hand_over(turn, QUESTION_REASON)


def _greet(turn: Turn) -> Step:
    return _to(turn, State.ASK_STATUS, GREETING)


def _unclear(turn: Turn) -> Step:
    if turn.failures + 1 >= MAX_FAILURES:
        return _hand_over(turn, UNREADABLE_REASON)
    return replace(_to(turn, turn.state, RETRY), failures=turn.failures + 1)


ANY = None  # the wildcard state of TABLE

TABLE: dict[tuple[State | None, Intent], Transition] = {
    (ANY, Intent.OPT_OUT): _opt_out,
    (ANY, Intent.HUMAN): _asked_for_a_person,
    (State.CONFIRM, Intent.YES): _save,
    (ANY, Intent.VAGUE_MONTHS): _ask_for_the_week,
    (ANY, Intent.LEAP_MONTH): _ask_which_month,
    (ANY, Intent.DATE): _confirm,
    (State.CONFIRM, Intent.NO): _ask_again,
    (ANY, Intent.PREPARING): _preparing,
    (ANY, Intent.MOTHER): _mother,
    (ANY, Intent.PREGNANT): _pregnant,
    (ANY, Intent.QUESTION): _question,
    (State.NEW, Intent.UNCLEAR): _greet,
    (State.HANDOVER, Intent.UNCLEAR): _greet,
    (State.DONE, Intent.UNCLEAR): _greet,
    (ANY, Intent.UNCLEAR): _unclear,
}


def transition(state: State, intent: Intent) -> Transition:
    """The table's transition for the exact state, else for any state."""
    return TABLE.get((state, intent)) or TABLE[(ANY, intent)]


def step(turn: Turn) -> Step:
    """What the table decides for her message."""
    return transition(turn.state, turn.intent)(turn)


# --- carrying out a step: the contact, the notices, the dialog row ------------------------------


def greeting(ctx: Context, contact: Contact, talk: Dialog) -> str:
    """What she hears when she opens the bot; nothing if we already know her dates."""
    if contact.due_date or contact.baby_birthday or talk.state == State.DONE:
        return ""
    talk.state = State.ASK_STATUS
    ctx.session.add(talk)
    return GREETING


def _notify_advisors(ctx: Context, contact: Contact, talk: Dialog, text: str, reason: str) -> None:
    name = contact.name or "未命名客户"
    summary = (
        f"微信客服转人工：客户「{name}」{reason}。\n她说：{text}\n阶段：{contact.stage or '未登记'}"
    )
    for userid in advisors.responsible(ctx, contact):
        outbox.notify(ctx, f"handover:{contact.external_userid}:{talk.id}:{talk.updated_at}",
                      userid, summary)  # fmt: skip


def _carry_out(
    ctx: Context, contact: Contact, talk: Dialog, text: str, effect: Effect | None
) -> dict[str, str]:
    """Do what the step declared; the values its reply templates need."""
    match effect:
        case OptOut():
            contact.opted_out = True
            ctx.session.add(contact)
        case HandOver(reason):
            _notify_advisors(ctx, contact, talk, text, reason)
            owner = contact.owner_userid
            name = advisors.advisor_name(ctx, owner, advisors.NEUTRAL) if owner else "顾问"
            return {"advisor": name}
        case SaveDate(kind, day):
            due = day if kind == dates.DUE else None
            birthday = day if kind == dates.BIRTHDAY else None
            contact.told_dates_at = contact.told_dates_at or ctx.clock.now()
            lifecycle.set_dates(ctx, contact, due_date=due, birthday=birthday)
            return {"where": f"你现在处于{contact.stage}，" if contact.stage else ""}
        case Trying():
            lifecycle.set_dates(ctx, contact, trying=True)
    return {}


def on_message(ctx: Context, contact: Contact, talk: Dialog, text: str) -> list[str]:
    """Her message in, the bot's replies out; state changes are left in the session."""
    now = ctx.clock.now()
    talk.updated_at = now
    ctx.session.add(talk)
    turn = classify(State(talk.state), text, now.date(), pending_kind=talk.pending_kind,
                    pending_date=talk.pending_date, failures=talk.failures)  # fmt: skip
    decided = step(turn)
    values = _carry_out(ctx, contact, talk, turn.text, decided.effect)
    # her words stay out of the log (they may hold a phone number): what they meant does not
    effect = type(decided.effect).__name__ if decided.effect else "-"
    ctx.note(f"contact {contact.id} dialog {turn.state} → {decided.state} "
             f"({turn.intent}, effect {effect})")  # fmt: skip
    talk.state, talk.failures = decided.state, decided.failures
    talk.pending_kind, talk.pending_date = decided.pending_kind, decided.pending_date
    return [reply.format_map(values) for reply in decided.replies]
