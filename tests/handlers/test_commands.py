"""The follow-up SLA for every new lead, and advisors logging follow-ups and claiming leads
from the public pool (公海) by replying to the app — through the sandbox, with a moved clock."""

from datetime import datetime, timedelta

from bot import worker
from store.db import session
from tests.support import (
    TZ,
    deliver,
    new_lead,
    reconfigure,
    settings_data,
    staff_says,
    tick,
)


def at(day: int, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 11, 22, hour, minute, tzinfo=TZ) + timedelta(days=day)


def run_at(runtime, clock, moment):
    clock.set(moment)
    tick(runtime, moment)
    worker.run(runtime, burst=True)


def said_to(sandbox, userid, fragment):
    return [m for m in sandbox.state.delivered_to(userid) if fragment in m]


def configure(runtime, managers=("lisi",), **followup):
    data = settings_data(runtime)
    data["followup"] |= followup
    data["report"]["managers"] = list(managers)
    reconfigure(runtime, data)


def test_a_logged_follow_up_stops_the_reminders(runtime, sandbox, clock):
    contact = new_lead(runtime, sandbox)
    run_at(runtime, clock, at(0, "11:59"))
    assert said_to(sandbox, "zhangsan", "还没有跟进记录") == []
    run_at(runtime, clock, at(0, "12:00"))
    (reminder,) = said_to(sandbox, "zhangsan", "还没有跟进记录")
    assert "新线索「小雨」已等待120分钟" in reminder and f"跟进 {contact.id} 备注" in reminder

    staff_says(runtime, "zhangsan", f"跟进 {contact.id} 已电话沟通，下周到店", msg_id=1)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "zhangsan", "已记录对「小雨」的跟进。\n备注：已电话沟通，下周到店")
    with session(runtime.engine) as s:
        assert s.get(type(contact), contact.id).status == "contacted"
    run_at(runtime, clock, at(1, "10:00"))
    assert said_to(sandbox, "wangwu", "跟进超时") == []


def test_a_follow_up_before_the_reminder_means_no_reminder(runtime, sandbox, clock):
    contact = new_lead(runtime, sandbox)
    clock.set(at(0, "10:30"))
    staff_says(runtime, "zhangsan", f"/跟进 {contact.id}", msg_id=2)
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "12:00"))
    run_at(runtime, clock, at(1, "10:00"))
    assert said_to(sandbox, "zhangsan", "还没有跟进记录") == []


def test_no_follow_up_goes_to_the_team_lead_and_the_public_pool(runtime, sandbox, clock):
    configure(runtime, team_leads={"zhangsan": "wangwu"}, public_pool=True,
              pool_advisors=["lisi", "wangwu", "zhangsan"])  # fmt: skip
    contact = new_lead(runtime, sandbox)
    run_at(runtime, clock, at(0, "12:00"))
    run_at(runtime, clock, at(1, "09:59"))
    assert said_to(sandbox, "wangwu", "跟进超时") == []
    run_at(runtime, clock, at(1, "10:00"))
    (escalation,) = said_to(sandbox, "wangwu", "跟进超时")
    assert "客户「小雨」" in escalation and "由张顾问负责，已24小时" in escalation
    assert "她已进入公海" in escalation
    (offer,) = said_to(sandbox, "lisi", "公海线索")
    assert f"回复「认领 {contact.id}」" in offer
    assert said_to(sandbox, "zhangsan", "公海线索") == []  # not offered back to her owner
    assert said_to(sandbox, "lisi", "跟进超时") == []  # her own team lead, not every manager

    staff_says(runtime, "lisi", f"认领 {contact.id}", msg_id=3)
    worker.run(runtime, burst=True)
    staff_says(runtime, "wangwu", f"认领 {contact.id}", msg_id=4)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "lisi", "认领成功：客户「小雨」转给你了")
    assert said_to(sandbox, "wangwu", "不在公海里（可能已经被认领）")
    assert said_to(sandbox, "zhangsan", "已由李顾问认领")
    (transfer,) = sandbox.state.transfers
    assert (transfer["handover_userid"], transfer["takeover_userid"]) == ("zhangsan", "lisi")
    with session(runtime.engine) as s:
        claimed = s.get(type(contact), contact.id)
    assert (claimed.owner_userid, claimed.handover_userid) == ("lisi", "zhangsan")
    assert claimed.pooled_at is None
    deliver(runtime, sandbox.state.complete_transfer(transfer))  # WeCom moves her, 24 h later
    worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        moved = s.get(type(contact), contact.id)
    assert (moved.owner_userid, moved.handover_userid, moved.status) == ("lisi", None, "new")
    run_at(runtime, clock, at(1, "12:00"))  # her new advisor's SLA runs from the claim
    assert said_to(sandbox, "lisi", "还没有跟进记录")


def test_two_advisors_claiming_at_once_one_wins(runtime, sandbox, clock):
    configure(runtime, public_pool=True, pool_advisors=["lisi", "wangwu"])
    contact = new_lead(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    staff_says(runtime, "lisi", f"认领 {contact.id}", msg_id=3)
    staff_says(runtime, "wangwu", f"认领 {contact.id}", msg_id=4)
    worker.run(runtime, burst=True)  # the worker's slots take both at once
    (transfer,) = sandbox.state.transfers
    winner = transfer["takeover_userid"]
    loser = ({"lisi", "wangwu"} - {winner}).pop()
    assert said_to(sandbox, winner, "认领成功")
    assert said_to(sandbox, loser, "不在公海里") or said_to(sandbox, loser, "已经被其他顾问认领了")


def test_without_a_team_lead_the_managers_are_told(runtime, sandbox, clock):
    configure(runtime, managers=["wangwu"])
    new_lead(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    assert said_to(sandbox, "wangwu", "跟进超时")
    assert said_to(sandbox, "lisi", "公海线索") == []  # no public pool configured


def test_only_her_advisor_logs_her_follow_ups_and_strangers_get_help(runtime, sandbox, clock):
    contact = new_lead(runtime, sandbox)
    staff_says(runtime, "lisi", f"跟进 {contact.id} 顺手记一下", msg_id=5)
    staff_says(runtime, "lisi", "你好", msg_id=6)
    staff_says(runtime, "lisi", "认领 9999", msg_id=7)
    staff_says(runtime, "lisi", f"认领 {contact.id}", msg_id=8)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "lisi", "不是你负责的")
    assert said_to(sandbox, "lisi", "可以这样回复我")
    assert said_to(sandbox, "lisi", "没找到这位客户")
    assert said_to(sandbox, "lisi", "你不在公海认领名单里")  # no public pool configured
    run_at(runtime, clock, at(0, "12:00"))
    assert said_to(sandbox, "zhangsan", "还没有跟进记录")  # lisi's note did not count


def test_the_sla_can_be_switched_off(runtime, sandbox, clock):
    configure(runtime, enabled=False)
    new_lead(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    assert said_to(sandbox, "zhangsan", "还没有跟进记录") == []


def test_a_pooled_lead_her_advisor_follows_up_cannot_be_claimed(runtime, sandbox, clock):
    configure(runtime, public_pool=True)
    contact = new_lead(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    staff_says(runtime, "zhangsan", f"跟进 {contact.id} 刚打过电话", msg_id=9)
    worker.run(runtime, burst=True)
    staff_says(runtime, "lisi", f"认领 {contact.id}", msg_id=10)
    worker.run(runtime, burst=True)
    assert said_to(sandbox, "lisi", "不在公海里")
    assert sandbox.state.transfers == []
