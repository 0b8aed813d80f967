"""A corrected due date or birthday replans: what was planned from the old date is cancelled
(with the reason), the new date's steps are planned, and nothing she already got is repeated;
through the sandbox with a moved clock."""

from datetime import date, datetime, timedelta

from sqlmodel import select

from bot import worker
from crm.stages import EARLY, MID
from sop import lifecycle
from store import contacts
from store.models import SopTask
from tests.support import TZ, added, deliver, refresh, tick


def a_mother(runtime, sandbox):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    return follow.external_userid


def set_dates(runtime, external_userid, **dates):
    with runtime.context() as ctx:
        contact = contacts.get(ctx.session, external_userid)
        lifecycle.set_dates(ctx, contact, **dates)
        ctx.session.commit()
        return contact.id


def tasks_of(runtime, contact_id, sop_id):
    with runtime.context() as ctx:
        rows = ctx.session.exec(select(SopTask).where(
            SopTask.target == f"c:{contact_id}", SopTask.sop_id == sop_id)).all()  # fmt: skip
    return sorted((row.trigger_key, row.step_id, row.status, row.detail) for row in rows)


def run_at(runtime, clock, moment):
    clock.set(moment)
    tick(runtime, moment)
    worker.run(runtime, burst=True)


def sends_to(sandbox, external_userid):
    return [t for t in sandbox.state.msg_templates if external_userid in t["external_userid"]]


def test_a_corrected_birthday_sends_the_first_birthday_on_the_new_anniversary_only(
    runtime, sandbox, clock
):
    mother = a_mother(runtime, sandbox)
    contact_id = set_dates(runtime, mother, birthday=date(2026, 3, 1))
    set_dates(runtime, mother, birthday=date(2026, 5, 1))
    assert tasks_of(runtime, contact_id, "first-birthday") == [
        ("anchor:baby_birthday:2026-03-01", "birthday", "cancelled",
         "baby_birthday corrected: 2026-03-01 → 2026-05-01"),
        ("anchor:baby_birthday:2026-05-01", "birthday", "pending", ""),
    ]  # fmt: skip
    before = len(sends_to(sandbox, mother))
    run_at(runtime, clock, datetime(2027, 3, 1, 10, 0, tzinfo=TZ))  # the old anniversary
    assert len(sends_to(sandbox, mother)) == before
    run_at(runtime, clock, datetime(2027, 5, 1, 10, 0, tzinfo=TZ))  # the new one
    run_at(runtime, clock, datetime(2027, 5, 1, 10, 1, tzinfo=TZ))
    assert len(sends_to(sandbox, mother)) == before + 1
    assert [status for _, _, status, _ in tasks_of(runtime, contact_id, "first-birthday")] == [
        "cancelled", "sent"]  # fmt: skip


def test_a_stage_moved_back_by_a_correction_repeats_nothing_she_got(runtime, sandbox, clock):
    mother = a_mother(runtime, sandbox)
    today = clock.now().date()
    old_due = today + timedelta(days=280 - 7 * 20)  # 孕20周: 孕中期, day 1/3/7 planned
    contact_id = set_dates(runtime, mother, due_date=old_due)
    run_at(runtime, clock, datetime(2026, 11, 23, 10, 0, tzinfo=TZ))  # day 1: nutrition sent
    assert ("sent", "nutrition") in {(s, step) for _, step, s, _ in
                                     tasks_of(runtime, contact_id, "mid-pregnancy")}  # fmt: skip

    new_due = old_due + timedelta(weeks=8)  # she was only 孕12周+1天: back to 孕早期
    set_dates(runtime, mother, due_date=new_due)
    with runtime.context() as ctx:
        assert contacts.get(ctx.session, mother).stage == EARLY
    mid = tasks_of(runtime, contact_id, "mid-pregnancy")
    reason = f"due_date corrected: {old_due} → {new_due}"
    assert {(step, status, detail) for _, step, status, detail in mid} >= {
        ("live-class", "cancelled", reason), ("coupon", "cancelled", reason)}  # fmt: skip
    assert tasks_of(runtime, contact_id, "early-pregnancy")  # the new stage's steps planned

    entered_mid = new_due - timedelta(days=280 - 7 * 13)
    clock.set(datetime.combine(entered_mid, datetime.min.time(), TZ) + timedelta(hours=1))
    assert refresh(runtime, entered_mid).changed == {MID: 1}
    again = [row for row in tasks_of(runtime, contact_id, "mid-pregnancy")
             if row[0] == f"stage:{MID}:due={new_due}"]  # fmt: skip
    assert {(step, status) for _, step, status, _ in again} == {
        ("nutrition", "skipped"), ("live-class", "pending"), ("coupon", "pending")}  # fmt: skip
    nutrition_sends = len(sends_to(sandbox, mother))
    evening = datetime.combine(entered_mid, datetime.min.time(), TZ) + timedelta(hours=20)
    for day in range(1, 8):
        run_at(runtime, clock, evening + timedelta(days=day))
    new_key = f"stage:{MID}:due={new_due}"
    statuses = {(step, status) for key, step, status, _ in
                tasks_of(runtime, contact_id, "mid-pregnancy") if key == new_key}  # fmt: skip
    assert statuses == {("nutrition", "skipped"), ("live-class", "sent"), ("coupon", "sent")}
    assert len(sends_to(sandbox, mother)) == nutrition_sends + 2  # nutrition not again


def test_clearing_a_due_date_cancels_its_steps(runtime, sandbox, clock):
    mother = a_mother(runtime, sandbox)
    due = clock.now().date() + timedelta(days=100)  # 孕晚期 soon: due-minus-30 planned
    contact_id = set_dates(runtime, mother, due_date=due)
    assert [s for _, _, s, _ in tasks_of(runtime, contact_id, "due-minus-30")] == ["pending"]
    set_dates(runtime, mother, clear={"due_date"})
    assert [(s, d) for _, _, s, d in tasks_of(runtime, contact_id, "due-minus-30")] == [
        ("cancelled", f"due_date corrected: {due} → cleared")]  # fmt: skip
    with runtime.context() as ctx:
        contact = contacts.get(ctx.session, mother)
        assert (contact.due_date, contact.stage) == (None, None)
