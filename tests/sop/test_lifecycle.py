"""Stages that move by themselves: a daily refresh moves exactly the contacts that cross a
boundary, in WeCom too; a birthday told moves her at once."""

from datetime import timedelta

from sqlmodel import select

from bot import worker
from crm.context import Context
from crm.stages import EARLY, INFANT, LATE, MID, NEWBORN, STAGES
from sop import lifecycle
from store import contacts
from store.db import session
from store.models import Contact, StageEvent
from tests.support import added, deliver, refresh


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
    return [n for n in names if n in STAGES]


def test_daily_refresh_moves_exactly_who_crossed_a_boundary(runtime, sandbox, clock):
    today = clock.now().date()
    crossing = today + timedelta(days=280 - 7 * 13 + 1)  # 12w+6d today, 13w tomorrow
    ids = _with_dates(runtime, sandbox, [
        ("小雨", crossing, None),
        ("阿敏", today + timedelta(days=100), None),
        ("婷婷", None, today - timedelta(days=40)),
        ("静静", None, None),
    ])  # fmt: skip
    first = refresh(runtime, today)
    assert first.contacts == 4 and first.changed == {EARLY: 1, MID: 1, INFANT: 1}
    worker.run(runtime, burst=True)
    assert len(sandbox.state.calls_to("externalcontact/mark_tag")) == 4 + 3  # channel + stage
    assert stage_tags(sandbox, ids["小雨"][1]) == [EARLY]
    assert stage_tags(sandbox, ids["婷婷"][1]) == [INFANT]

    again = refresh(runtime, today)
    assert again.changed == {} and again.tag_jobs == 0

    calls_before = len(sandbox.state.calls_to("externalcontact/mark_tag", ok=True))
    clock.advance(days=1)
    tomorrow = refresh(runtime, today + timedelta(days=1))
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
    refresh(runtime, today)
    worker.run(runtime, burst=True)
    contact_id, external = ids["小雨"]
    assert stage_tags(sandbox, external) == [LATE]
    with session(runtime.engine) as s:
        contact = s.get(Contact, contact_id)
        born = today - timedelta(days=1)
        assert lifecycle.set_dates(Context(s, runtime), contact, birthday=born) == NEWBORN
        worker.run(runtime, burst=True)  # a worker busy meanwhile sees nothing to do yet
        assert stage_tags(sandbox, external) == [LATE]
        s.commit()
    worker.run(runtime, burst=True)
    assert stage_tags(sandbox, external) == [NEWBORN]
