"""Lead scores: rules with decay and a readable breakdown; a lead reaching the threshold gets
the 高意向 tag in WeCom and her advisor is told once — rules by hand, the flow through the
sandbox with a moved clock."""

from datetime import datetime, timedelta

import pytest

from bot import worker
from crm import scoring
from crm.config import ScoreRule
from store import signals
from store.db import session
from store.models import Contact
from store.signals import History, Signal
from tests.handlers.test_commands import said_to
from tests.support import (
    TZ,
    make_settings,
    new_lead,
    reconfigure,
    refresh,
    settings_data,
    staff_says,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=TZ)


def scored(tmp_path, rules, history):
    settings = make_settings(tmp_path, scoring={"rules": rules}, channels=[
        {"code": "hospital", "name": "协和医院合作", "advisors": ["zhangsan"]}])  # fmt: skip
    items = scoring.breakdown(settings, history, NOW)
    return [item.text() for item in items], scoring.total(items)


def her(*found, arrived=NOW - timedelta(days=1), last_seen=None):
    history = History(1, 0, arrived, list(found))
    history.seen(last_seen or arrived)
    return history


def test_points_halve_every_half_life_and_count_at_most_max_count(tmp_path):
    rule = {"signal": "followed_up", "points": 8, "max_count": 2, "half_life_days": 30,
            "name": "顾问跟进"}  # fmt: skip
    history = her(Signal("followed_up", "zhangsan", NOW - timedelta(days=60)),
                  Signal("followed_up", "zhangsan", NOW - timedelta(days=30)),
                  Signal("followed_up", "zhangsan", NOW))  # fmt: skip
    # the two newest count: 8 today, 4 a month on; the one two months old not at all
    assert scored(tmp_path, [rule], history) == (["顾问跟进 +8", "顾问跟进 +4"], 12)


def test_values_narrow_a_signal_by_name_code_or_label(tmp_path):
    rules = [
        {"signal": "stage", "values": ["孕晚期"], "points": 10, "name": "进入孕晚期"},
        {"signal": "channel", "values": ["协和医院合作"], "points": 6},  # a channel's name
        {"signal": "status", "values": ["有意向"], "points": 10},  # a status label
        {"signal": "source", "values": ["协和医院"], "points": 10, "name": "合作医院"},
    ]
    history = her(Signal("stage", "孕中期", NOW - timedelta(days=90)),
                  Signal("stage", "孕晚期", NOW), Signal("channel", "hospital", NOW),
                  Signal("status", "interested", NOW),
                  Signal("source", "妇幼保健院", NOW))  # fmt: skip
    assert scored(tmp_path, rules, history) == (
        ["进入孕晚期 +10", "channel（协和医院合作） +6", "status（有意向） +10"],
        26,
    )


def test_replied_counts_only_within_its_days_of_her_arrival(tmp_path):
    rule = {"signal": "replied", "days": 1, "points": 3, "name": "一天内回复"}
    soon = her(Signal("replied", "", NOW - timedelta(hours=2)), arrived=NOW - timedelta(hours=20))
    late = her(Signal("replied", "", NOW), arrived=NOW - timedelta(days=3))
    assert scored(tmp_path, [rule], soon) == (["一天内回复 +3"], 3)
    assert scored(tmp_path, [rule], late) == ([], 0)


def test_silence_costs_points_for_each_full_spell(tmp_path):
    rule = {"signal": "silent", "days": 7, "points": -5, "max_count": 2, "name": "7天没有互动"}
    assert scored(tmp_path, [rule], her(last_seen=NOW - timedelta(days=6))) == ([], 0)
    assert scored(tmp_path, [rule], her(last_seen=NOW - timedelta(days=7))) == (
        ["7天没有互动 −5"], -5)  # fmt: skip
    assert scored(tmp_path, [rule], her(last_seen=NOW - timedelta(days=40))) == (
        ["7天没有互动 −5", "7天没有互动 −5"], -10)  # fmt: skip


def test_a_rule_that_cannot_mean_anything_is_refused():
    with pytest.raises(ValueError, match="points must not be 0"):
        ScoreRule(signal="tag", points=0)
    with pytest.raises(ValueError, match="no lead status"):
        ScoreRule(signal="status", values=["很想买"], points=5)


def score_of(runtime, contact_id):
    with session(runtime.engine) as s:
        return s.get(Contact, contact_id).score


def test_reaching_the_threshold_tags_her_and_tells_her_advisor_once(runtime, sandbox, clock):
    contact = new_lead(runtime, sandbox)
    assert score_of(runtime, contact.id) == 2  # added through a channel code
    staff_says(runtime, "zhangsan", f"跟进 {contact.id} 电话聊了半小时", msg_id=1)
    worker.run(runtime, burst=True)
    assert score_of(runtime, contact.id) == 10
    assert sandbox.state.tag_names("zhangsan", contact.external_userid).count("高意向") == 0
    staff_says(runtime, "zhangsan", f"有意向 {contact.id}", msg_id=2)
    worker.run(runtime, burst=True)
    assert score_of(runtime, contact.id) == 20
    assert "高意向" in sandbox.state.tag_names("zhangsan", contact.external_userid)
    (notice,) = said_to(sandbox, "zhangsan", "高意向客户")
    assert notice.startswith(f"高意向客户：小雨（编号 {contact.id}）评分 20，建议今天跟进。")
    assert "· 顾问跟进 +8\n· 添加了顾问 +2\n· 有意向 +10" in notice

    # eight days without a sign of her: the follow-up has decayed and silence costs points
    clock.set(clock.now() + timedelta(days=8))
    refresh(runtime, clock.now().date())
    with runtime.context() as ctx:
        scoring.refresh(ctx.engine, ctx.settings, clock.now())
    worker.run(runtime, burst=True)
    assert score_of(runtime, contact.id) == 2 + 7 + 10 - 5
    assert "高意向" not in sandbox.state.tag_names("zhangsan", contact.external_userid)

    staff_says(runtime, "zhangsan", f"跟进 {contact.id} 又聊了", msg_id=3)
    worker.run(runtime, burst=True)
    assert score_of(runtime, contact.id) >= 20
    assert "高意向" in sandbox.state.tag_names("zhangsan", contact.external_userid)
    assert len(said_to(sandbox, "zhangsan", "高意向客户")) == 1  # told once, not twice


def test_her_history_is_read_from_what_happened(runtime, sandbox):
    contact = new_lead(runtime, sandbox)
    staff_says(runtime, "zhangsan", f"跟进 {contact.id}", msg_id=1)
    worker.run(runtime, burst=True)
    with runtime.engine.connect() as connection:
        history = signals.of(connection, [contact.id, 999999])
    assert list(history) == [contact.id]
    kinds = sorted(s.kind for s in history[contact.id].signals)
    # 新线索 and 已沟通; her channel's two tags
    assert kinds == ["channel", "followed_up", "status", "status", "tag", "tag"]


def test_scoring_switched_off_counts_nothing(runtime, sandbox):
    data = settings_data(runtime)
    data["scoring"]["enabled"] = False
    reconfigure(runtime, data)
    contact = new_lead(runtime, sandbox)
    assert score_of(runtime, contact.id) == 0


def test_values_on_a_signal_they_cannot_narrow_are_refused():
    with pytest.raises(ValueError, match="a followed_up signal has no values"):
        ScoreRule(signal="followed_up", values=["zhangsan"], points=5)


def test_a_lowered_threshold_tags_the_leads_now_above_it(runtime, sandbox, clock):
    contact = new_lead(runtime, sandbox)
    staff_says(runtime, "zhangsan", f"跟进 {contact.id}", msg_id=1)
    worker.run(runtime, burst=True)
    assert score_of(runtime, contact.id) == 10 and not said_to(sandbox, "zhangsan", "高意向客户")
    data = settings_data(runtime)
    data["scoring"]["threshold"] = 10
    reconfigure(runtime, data)
    with runtime.context() as ctx:
        scoring.refresh(ctx.engine, ctx.settings, clock.now())
    worker.run(runtime, burst=True)
    assert "高意向" in sandbox.state.tag_names("zhangsan", contact.external_userid)
    assert said_to(sandbox, "zhangsan", f"高意向客户：小雨（编号 {contact.id}）评分 10")
