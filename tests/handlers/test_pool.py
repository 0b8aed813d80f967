"""The public pool's rules (公海): why leads go in (超时回收, 主动放弃, 离职, 管理员), the daily
claim cap, the cool-down before an advisor may take back a lead he let go, and an advisor
leaving the company — through the sandbox, with a moved clock."""

from datetime import timedelta

from bot import worker
from bot.cli import main
from crm import config
from store import leads, pool
from store.db import session
from store.models import Contact, PoolEvent
from tests.handlers.test_commands import at, configure, run_at, said_to
from tests.support import new_lead, settings_data, staff_says


def pool_history(runtime, contact_id):
    with session(runtime.engine) as s:
        rows = s.query(PoolEvent).filter(PoolEvent.contact_id == contact_id).order_by(PoolEvent.id)
        return [(e.kind, e.userid, e.reason) for e in rows]


def test_an_advisor_gives_a_lead_back_and_cannot_take_her_again_at_once(runtime, sandbox, clock):
    configure(runtime, public_pool=True, pool_advisors=["lisi", "zhangsan"], reclaim_after_days=7)
    contact = new_lead(runtime, sandbox)
    staff_says(runtime, "zhangsan", f"放弃 {contact.id} 联系不上", msg_id=1)
    worker.run(runtime, burst=True)
    assert said_to(
        sandbox, "zhangsan", "已把客户「小雨」放回公海，其他顾问可以认领。7 天内你不能再认领她。"
    )
    assert said_to(sandbox, "lisi", f"回复「认领 {contact.id}」")  # offered to the pool
    staff_says(runtime, "lisi", "公海", msg_id=2)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "lisi", f"小雨（编号 {contact.id}）")
    with session(runtime.engine) as s:
        notes = [e.note for e in leads.history(s, contact.id)]
    assert "进入公海：主动放弃（联系不上）" in notes
    assert pool_history(runtime, contact.id) == [("pooled", "zhangsan", "主动放弃")]


def test_the_advisor_who_let_her_time_out_waits_before_claiming_her(runtime, sandbox, clock):
    configure(runtime, public_pool=True, pool_advisors=["lisi", "zhangsan"], reclaim_after_days=3)
    contact = new_lead(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))  # escalated: 超时回收
    assert pool_history(runtime, contact.id) == [("pooled", "zhangsan", "超时回收")]
    with session(runtime.engine) as s:  # zhangsan is hers no longer in mombot's eyes
        her = s.get(Contact, contact.id)
        her.owner_userid = "wangwu"
        s.add(her)
        s.commit()
    staff_says(runtime, "zhangsan", f"认领 {contact.id}", msg_id=1)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "zhangsan", "是你放回公海的，11月26日 10:00 之后才能再认领")


def test_a_daily_cap_on_claims(runtime, sandbox, clock):
    configure(runtime, public_pool=True, pool_advisors=["lisi"], claim_daily_cap=1)
    first = new_lead(runtime, sandbox, "小雨")
    second = new_lead(runtime, sandbox, "阿敏")
    run_at(runtime, clock, at(1, "10:00"))
    staff_says(runtime, "lisi", f"认领 {first.id}", msg_id=1)
    worker.run(runtime, burst=True)
    staff_says(runtime, "lisi", f"认领 {second.id}", msg_id=2)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "lisi", "认领成功：客户「小雨」")
    assert said_to(sandbox, "lisi", "你今天已认领 1 位公海客户，达到每天 1 位的上限")
    assert pool_history(runtime, first.id)[-1] == ("claimed", "lisi", "")
    clock.set(clock.now() + timedelta(days=1))  # a new day
    staff_says(runtime, "lisi", f"认领 {second.id}", msg_id=3)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "lisi", "认领成功：客户「阿敏」")


def test_an_advisor_who_leaves_hands_his_leads_to_a_successor(runtime, sandbox, tmp_path, capsys):
    first = new_lead(runtime, sandbox, "小雨")
    second = new_lead(runtime, sandbox, "阿敏")
    path = config.write(tmp_path / "config.toml", settings_data(runtime))
    assert main(["--config", str(path), "advisors", "leave", "zhangsan",
                 "--successor", "lisi"]) == 0  # fmt: skip
    assert "2 moved to lisi" in capsys.readouterr().out
    transfers = sandbox.state.transfers
    assert {(t["handover_userid"], t["takeover_userid"]) for t in transfers} == {
        ("zhangsan", "lisi")
    }
    with session(runtime.engine) as s:
        for lead in (first, second):
            her = s.get(Contact, lead.id)
            assert (her.owner_userid, her.handover_userid) == ("lisi", "zhangsan")
    worker.run(runtime, burst=True)  # lisi is told of both at once
    (digest,) = said_to(sandbox, "lisi", "新分配给你 2 条线索")
    assert "小雨" in digest and "阿敏" in digest


def test_without_a_successor_his_leads_go_to_the_pool(runtime, sandbox, tmp_path, capsys):
    configure(runtime, public_pool=True)
    lead = new_lead(runtime, sandbox)
    path = config.write(tmp_path / "config.toml", settings_data(runtime))
    assert main(["--config", str(path), "advisors", "leave", "zhangsan"]) == 0
    assert "1 in the public pool" in capsys.readouterr().out
    assert pool_history(runtime, lead.id) == [("pooled", "zhangsan", "离职")]


def test_an_administrator_puts_a_lead_in_the_pool(runtime, sandbox, tmp_path, capsys):
    configure(runtime, public_pool=True, pool_advisors=["lisi"])
    lead = new_lead(runtime, sandbox)
    path = config.write(tmp_path / "config.toml", settings_data(runtime))
    assert main(["--config", str(path), "leads", "release", str(lead.id), "--reason",
                 "顾问休产假"]) == 0  # fmt: skip
    assert "is in the public pool now" in capsys.readouterr().out
    assert pool_history(runtime, lead.id) == [("pooled", "", "管理员")]
    assert said_to(sandbox, "lisi", "管理员")
    assert main(["--config", str(path), "leads", "release", "999"]) == 1


def test_a_pooled_lead_from_outside_wecom_is_claimed_without_a_transfer(runtime, sandbox):
    configure(runtime, public_pool=True, pool_advisors=["lisi"])
    with session(runtime.engine) as s:
        her = Contact(name="王芳", phone="13900001111", created_at=at(0, "09:00"),
                      updated_at=at(0, "09:00"))  # fmt: skip
        s.add(her)
        s.flush()
        pool.put(s, her, at(0, "09:00"), "无人可分配")
        s.commit()
        number = her.id
    staff_says(runtime, "lisi", f"认领 {number}", msg_id=1)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "lisi", "认领成功：客户「王芳」归你了；她还不是你的企业微信客户，"
                                    "请用手机号 13900001111 搜索添加")  # fmt: skip
    assert sandbox.state.transfers == []
    with session(runtime.engine) as s:
        assert s.get(Contact, number).owner_userid == "lisi"
