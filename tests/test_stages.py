"""Lifecycle stages: the rules, and a daily refresh that moves exactly the contacts that cross a
boundary, in WeCom too."""

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from bot import worker
from bot.config import StageSettings
from bot.ticker import queue_daily_refresh
from handlers import stages
from handlers.context import Context
from handlers.stages import (
    EARLY,
    INFANT,
    LATE,
    MID,
    NEWBORN,
    PREPARING,
    TODDLER,
    baby_age,
    gestational_age,
    stage_on,
)  # fmt: skip
from store import contacts
from store.db import session
from store.models import Contact, StageEvent
from tests.conftest import TZ
from tests.flows import added, deliver

RULES = StageSettings()
DAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    ("due", "birthday", "trying", "stage"),
    [
        (DAY + timedelta(days=280 - 7 * 13 + 1), None, False, EARLY),  # 12w+6d
        (DAY + timedelta(days=280 - 7 * 13), None, False, MID),  # 13w+0d
        (DAY + timedelta(days=280 - 7 * 28 + 1), None, False, MID),
        (DAY + timedelta(days=280 - 7 * 28), None, False, LATE),
        (DAY - timedelta(days=20), None, False, LATE),  # overdue, no birthday yet
        (None, DAY, False, NEWBORN),
        (None, DAY - timedelta(days=28), False, NEWBORN),
        (None, DAY - timedelta(days=29), False, INFANT),
        (None, date(2025, 11, 23), False, INFANT),
        (None, date(2025, 11, 22), False, TODDLER),
        (None, date(2023, 11, 23), False, TODDLER),
        (None, date(2023, 11, 22), False, None),
        (None, None, True, PREPARING),
        (None, None, False, None),
        (DAY + timedelta(days=100), date(2025, 6, 1), False, MID),  # 二宝 on the way
        (date(2026, 11, 1), date(2026, 11, 3), False, NEWBORN),  # born: the birthday wins
        (DAY + timedelta(days=100), DAY, False, NEWBORN),  # born early: still this pregnancy
    ],
)
def test_stage_on(due, birthday, trying, stage):
    assert stage_on(DAY, due, birthday, trying, RULES) == stage


def test_boundaries_are_configurable():
    rules = StageSettings(mid_pregnancy_week=14)
    assert stage_on(DAY, DAY + timedelta(days=280 - 7 * 13), None, False, rules) == EARLY


def test_ages_as_mothers_say_them():
    assert gestational_age(DAY, date(2027, 3, 15)) == "孕23周+6天"
    assert baby_age(DAY, date(2026, 3, 10)) == "8个月12天"
    assert baby_age(DAY, DAY - timedelta(days=9)) == "9天"
    assert baby_age(DAY, date(2025, 5, 22)) == "1岁6个月"


def _with_dates(runtime, sandbox, plan):
    """Add contacts through the real add flow, then record their dates."""
    ids = {}
    for name, due, birthday in plan:
        follow, fields = added(sandbox.state, name)
        deliver(runtime, fields)
        worker.run(runtime, burst=True)
        with session(runtime.engine) as s:
            contact = contacts.get(s, follow.external_userid)
            contact.due_date, contact.baby_birthday = due, birthday
            s.add(contact)
            s.commit()
            ids[name] = (contact.id, follow.external_userid)
    return ids


def stage_tags(sandbox, external_userid):
    names = sandbox.state.tag_names("zhangsan", external_userid)
    return [n for n in names if n in stages.STAGES]


def test_daily_refresh_moves_exactly_who_crossed_a_boundary(runtime, sandbox, clock):
    today = clock.now().date()
    crossing = today + timedelta(days=280 - 7 * 13 + 1)  # 12w+6d today, 13w tomorrow
    ids = _with_dates(runtime, sandbox, [
        ("小雨", crossing, None),
        ("阿敏", today + timedelta(days=100), None),
        ("婷婷", None, today - timedelta(days=40)),
        ("静静", None, None),
    ])  # fmt: skip
    first = stages.refresh(runtime, today)
    assert first.contacts == 4 and first.changed == {EARLY: 1, MID: 1, INFANT: 1}
    worker.run(runtime, burst=True)
    assert len(sandbox.state.calls_to("externalcontact/mark_tag")) == 4 + 3  # channel + stage
    assert stage_tags(sandbox, ids["小雨"][1]) == [EARLY]
    assert stage_tags(sandbox, ids["婷婷"][1]) == [INFANT]

    again = stages.refresh(runtime, today)
    assert again.changed == {} and again.tag_jobs == 0

    calls_before = len(sandbox.state.calls_to("externalcontact/mark_tag", ok=True))
    clock.advance(days=1)
    tomorrow = stages.refresh(runtime, today + timedelta(days=1))
    assert tomorrow.changed == {MID: 1}
    worker.run(runtime, burst=True)
    calls = sandbox.state.calls_to("externalcontact/mark_tag", ok=True)[calls_before:]
    assert len(calls) == 1 and calls[0].body["external_userid"] == ids["小雨"][1]
    assert stage_tags(sandbox, ids["小雨"][1]) == [MID]  # exactly one stage tag
    with session(runtime.engine) as s:
        events = s.exec(select(StageEvent).where(StageEvent.contact_id == ids["小雨"][0])).all()
    assert [(e.stage, e.previous, e.entered_on) for e in events] == [
        (EARLY, None, today),
        (MID, EARLY, today + timedelta(days=1)),
    ]


def test_a_birthday_moves_her_from_late_pregnancy_to_newborn(runtime, sandbox, clock):
    today = clock.now().date()
    ids = _with_dates(runtime, sandbox, [("小雨", today + timedelta(days=10), None)])
    stages.refresh(runtime, today)
    worker.run(runtime, burst=True)
    contact_id, external = ids["小雨"]
    assert stage_tags(sandbox, external) == [LATE]
    with session(runtime.engine) as s:
        contact = s.get(Contact, contact_id)
        born = today - timedelta(days=1)
        assert stages.set_dates(Context(s, runtime), contact, birthday=born) == NEWBORN
        s.commit()
    worker.run(runtime, burst=True)
    assert stage_tags(sandbox, external) == [NEWBORN]


def test_the_worker_queues_the_refresh_once_a_day(runtime, clock):
    clock.set(datetime(2026, 11, 22, 0, 10, tzinfo=TZ))
    assert not queue_daily_refresh(runtime)  # before refresh_at (00:30)
    clock.set(datetime(2026, 11, 22, 0, 31, tzinfo=TZ))
    assert queue_daily_refresh(runtime)
    assert not queue_daily_refresh(runtime)
    clock.advance(days=1)
    assert queue_daily_refresh(runtime)
    assert runtime.queue("bulk").count == 2
