"""The welcome bot's dialog as a table, unit by unit: how her text is read in each state, and
what each transition decides (next state, replies, effect). No database: the effects are only
declared here; tests/handlers/test_kf.py runs them end to end."""

from dataclasses import dataclass, field
from datetime import date

import pytest

from crm.dates import BIRTHDAY, DUE
from handlers import dialog
from handlers.dialog import (
    ANY,
    TABLE,
    HandOver,
    Intent,
    OptOut,
    SaveDate,
    State,
    Step,
    Trying,
    classify,
    step,
    transition,
)

TODAY = date(2026, 11, 22)
DUE_DAY, BIRTH_DAY = date(2027, 3, 15), date(2026, 10, 1)
ASKING = (State.ASK_STATUS, State.ASK_DUE, State.ASK_BIRTHDAY, State.CONFIRM)
AT_REST = (State.NEW, State.HANDOVER, State.DONE)  # unclear here: greet her again


@dataclass(frozen=True)
class Case:
    """In `state` (with the dialog's other `fields`), she writes `text`: read as `intent`, it
    leads to `then`."""

    state: State
    text: str
    intent: Intent
    then: Step
    fields: dict = field(default_factory=dict)  # pending_kind, pending_date, failures
    today: date = TODAY


def goes(
    state: State,
    reply: str,
    effect: dialog.Effect | None = None,
    failures: int = 0,
    pending: tuple[str | None, date | None] = (None, None),
) -> Step:
    """Into `state` with one reply (and the dialog's fields after it)."""
    return Step(state, (reply,), failures, *pending, effect)


def confirming(kind: str, day: date, failures: int = 0) -> dict:
    return {"pending_kind": kind, "pending_date": day, "failures": failures}


CASES = {
    # opt-out and a person: from any state
    **{
        f"opt-out in {state}": Case(
            state, "不要再发了", Intent.OPT_OUT, goes(state, dialog.OPTED_OUT, OptOut(), 1),
            {"failures": 1},
        )
        for state in State
    },
    "a person, in ask_due": Case(
        State.ASK_DUE, "我要人工", Intent.HUMAN,
        goes(State.HANDOVER, dialog.HANDED_OVER, HandOver("请求人工服务")), {"failures": 1},
    ),
    "a person, while confirming": Case(
        State.CONFIRM, "找顾问", Intent.HUMAN,
        goes(State.HANDOVER, dialog.HANDED_OVER, HandOver("请求人工服务"), 0, (DUE, DUE_DAY)),
        confirming(DUE, DUE_DAY),
    ),
    # YES saves the pending date
    "yes to a due date": Case(
        State.CONFIRM, "对", Intent.YES,
        goes(State.DONE, dialog.SAVED, SaveDate(DUE, DUE_DAY)), confirming(DUE, DUE_DAY, 1),
    ),
    "yes to a birthday": Case(
        State.CONFIRM, "是的！", Intent.YES,
        goes(State.DONE, dialog.SAVED, SaveDate(BIRTHDAY, BIRTH_DAY)),
        confirming(BIRTHDAY, BIRTH_DAY),
    ),
    # a date, read back to her
    "a due date in ask_due": Case(
        State.ASK_DUE, "预产期是明年3月15号", Intent.DATE,
        goes(State.CONFIRM, "好的，预产期是2027年3月15日，现在孕23周+6天，对吗？",
              pending=(DUE, DUE_DAY)),
        {"failures": 1},
    ),
    "a bare date in ask_due is a due date": Case(
        State.ASK_DUE, "3月15号", Intent.DATE,
        goes(State.CONFIRM, "好的，预产期是2027年3月15日，现在孕23周+6天，对吗？",
              pending=(DUE, DUE_DAY)),
    ),
    "a bare date in ask_birthday is a birthday": Case(
        State.ASK_BIRTHDAY, "10月1号", Intent.DATE,
        goes(State.CONFIRM, "好的，宝宝生日是2026年10月1日，现在1个月21天，对吗？",
              pending=(BIRTHDAY, BIRTH_DAY)),
    ),
    "a correction while confirming": Case(
        State.CONFIRM, "不对，是3月20号", Intent.DATE,
        goes(State.CONFIRM, "好的，预产期是2027年3月20日，现在孕23周+1天，对吗？",
              pending=(DUE, date(2027, 3, 20))),
        confirming(DUE, DUE_DAY),
    ),
    # NO: ask again for the kind of date she was confirming
    "no to a due date": Case(
        State.CONFIRM, "不对", Intent.NO,
        goes(State.ASK_DUE, dialog.ASK_AGAIN, pending=(DUE, DUE_DAY)), confirming(DUE, DUE_DAY),
    ),
    "no to a birthday": Case(
        State.CONFIRM, "错了", Intent.NO,
        goes(State.ASK_BIRTHDAY, dialog.ASK_AGAIN, pending=(BIRTHDAY, BIRTH_DAY)),
        confirming(BIRTHDAY, BIRTH_DAY),
    ),
    "a 农历 month the year has twice is asked, not guessed": Case(
        State.ASK_DUE, "预产期农历六月十五", Intent.LEAP_MONTH,  # 2025 has 闰六月
        goes(State.ASK_DUE, dialog.LEAP_QUESTION), today=date(2025, 3, 1),
    ),
    "an ambiguous correction asks for its kind again": Case(
        State.CONFIRM, "不对，是农历六月十五", Intent.LEAP_MONTH,
        goes(State.ASK_DUE, dialog.LEAP_QUESTION, pending=(DUE, DUE_DAY)),
        confirming(DUE, DUE_DAY), today=date(2025, 3, 1),
    ),
    # what she is
    "a pregnancy month asks for the week": Case(
        State.ASK_STATUS, "孕6个月", Intent.VAGUE_MONTHS,
        goes(State.ASK_DUE, "孕6个月大约是孕21–26周，能告诉我具体是孕几周，或者预产期是哪天吗？"),
    ),
    "备孕": Case(
        State.ASK_STATUS, "在备孕", Intent.PREPARING,
        goes(State.DONE, dialog.PREPARING_SAVED, Trying()),
    ),
    "a mother": Case(
        State.ASK_STATUS, "已经生了", Intent.MOTHER, goes(State.ASK_BIRTHDAY, dialog.ASK_BIRTHDAY)
    ),
    "pregnant": Case(
        State.ASK_STATUS, "怀孕了", Intent.PREGNANT, goes(State.ASK_DUE, dialog.ASK_DUE)
    ),
    "a question": Case(
        State.ASK_DUE, "怎么冲奶粉？", Intent.QUESTION,
        goes(State.HANDOVER, dialog.HANDED_OVER, HandOver("问了机器人答不了的问题")),
        {"failures": 1},
    ),
    # unclear: greet her again at rest, else once more, then a person
    **{
        f"unclear in {state}": Case(
            state, "哈哈", Intent.UNCLEAR, goes(State.ASK_STATUS, dialog.GREETING, failures=1),
            {"failures": 1},
        )
        for state in AT_REST
    },
    **{
        f"first unclear in {state}": Case(
            state, "嗯嗯啊", Intent.UNCLEAR, goes(state, dialog.RETRY, failures=1)
        )
        for state in ASKING
    },
    **{
        f"second unclear in {state}": Case(
            state, "哈哈", Intent.UNCLEAR,
            goes(State.HANDOVER, dialog.HANDED_OVER, HandOver("两次回答机器人都没能识别")),
            {"failures": 1},
        )
        for state in ASKING
    },
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_transition(case):
    turn = classify(case.state, case.text, case.today, **case.fields)
    assert turn.intent == case.intent
    assert step(turn) == case.then


def resolved(state: State, intent: Intent) -> tuple[State | None, Intent]:
    return (state, intent) if (state, intent) in TABLE else (ANY, intent)


def test_every_entry_of_the_table_is_exercised():
    assert {resolved(case.state, case.intent) for case in CASES.values()} == set(TABLE)


def test_the_table_is_complete():
    """Every intent classify can give in every state has a transition; YES and NO are only
    read while confirming."""
    for state in State:
        for intent in Intent:
            if state != State.CONFIRM and intent in (Intent.YES, Intent.NO):
                continue
            assert callable(transition(state, intent)), (state, intent)


def test_the_states_are_the_stored_strings():
    assert {state.value for state in State} == {
        "new", "ask_status", "ask_due", "ask_birthday", "confirm", "done", "handover"
    }  # fmt: skip


@pytest.mark.parametrize("state", [s for s in State if s != State.CONFIRM])
@pytest.mark.parametrize("text", ["对", "是的", "不对"])
def test_yes_and_no_are_read_only_while_confirming(state, text):
    turn = classify(state, text, TODAY, pending_kind=DUE, pending_date=DUE_DAY)
    assert turn.intent == Intent.UNCLEAR
    assert not isinstance(step(turn).effect, SaveDate)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我要人工，不要再发了", Intent.OPT_OUT),  # opt-out before a person
        ("人工客服在吗？", Intent.HUMAN),  # a person before a question
        ("对，是明年3月20号", Intent.DATE),  # not a bare yes: the new date
        ("怀孕6个月了吗", Intent.VAGUE_MONTHS),  # a month before a question
        ("还没怀，在备孕", Intent.PREPARING),  # 备孕 before pregnant
        ("已经生了，怎么喂？", Intent.MOTHER),  # a mother before a question
        ("", Intent.UNCLEAR),
    ],
)
def test_precedence(text, intent):
    assert classify(State.CONFIRM, text, TODAY, pending_kind=DUE).intent == intent


def test_the_text_is_read_stripped():
    turn = classify(State.CONFIRM, "  对 ", TODAY, pending_kind=DUE, pending_date=DUE_DAY)
    assert (turn.text, turn.intent) == ("对", Intent.YES)


def test_reply_templates_take_what_only_the_applier_knows():
    assert dialog.HANDED_OVER.format(advisor="张顾问") == "好的，已经请张顾问尽快联系你，请稍等～"
    assert dialog.SAVED.format(where="你现在处于孕中期，") == (
        "已记下！你现在处于孕中期，接下来我会按阶段给你推送实用的内容，有问题随时问我～"
    )
