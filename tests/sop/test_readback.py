"""Mass sends handed to advisors are read back from WeCom: which ones the advisor confirmed,
and the managers' report counts them."""

from sqlmodel import select

from crm import kpis, periods
from sop import readback
from store.db import session
from store.models import SopTask
from tests.sop.test_sop import at, mid_pregnancy_mother, run_at


def mass_sends(runtime, contact_id):
    with session(runtime.engine) as s:
        rows = s.exec(select(SopTask).where(SopTask.target == f"c:{contact_id}",
                                            SopTask.msgid.is_not(None))).all()  # fmt: skip
    return {row.step_id: (row.msgid, row.mass_result) for row in rows}


def test_a_confirmed_mass_send_is_read_back_and_counted(runtime, sandbox, clock):
    contact_id, _ = mid_pregnancy_mother(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    run_at(runtime, clock, at(3, "19:30"))
    handed = mass_sends(runtime, contact_id)
    assert set(handed) == {"nutrition", "live-class"}
    assert {result for _, result in handed.values()} == {None}
    with runtime.context() as ctx:
        assert readback.read_back(ctx) == 2  # WeCom says: not sent yet
    assert {result for _, result in mass_sends(runtime, contact_id).values()} == {"unsent"}

    sandbox.state.confirm_mass_send(handed["nutrition"][0])  # 张顾问 taps 发送
    with runtime.context() as ctx:
        assert readback.read_back(ctx) == 2
    assert mass_sends(runtime, contact_id)["nutrition"][1] == "sent"
    assert mass_sends(runtime, contact_id)["live-class"][1] == "unsent"

    period = periods.parse("近7天", clock.advance(minutes=1))
    report = kpis.compute(runtime.engine, runtime.settings, period, kpis.EVERYONE)
    (line,) = [s for s in report.sops if s.name == "mid-pregnancy"]
    assert (line.sent, line.mass, line.confirmed) == (2, 2, 1)


def test_a_mass_send_is_read_back_for_three_days_only(runtime, sandbox, clock):
    mid_pregnancy_mother(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    clock.set(at(4, "10:01"))
    with runtime.context() as ctx:
        assert readback.read_back(ctx) == 0
    assert sandbox.state.calls_to("externalcontact/get_groupmsg_task") == []
