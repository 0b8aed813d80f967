"""/report in the app chat and the daily push, end to end through the sandbox: real callbacks,
the worker, WeCom's media/upload and message/send, a group robot's webhook."""

import pytest

from bot import ticker, worker
from charts.fonts import cjk_font
from handlers import report
from store import contacts
from store.db import session
from tests.charts.test_fonts import hide
from tests.support import added, deliver, reconfigure, settings_data, staff_says

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def shop(runtime, sandbox, clock):
    """王五 (wangwu) manages; 张顾问 got two mothers today and signed one, 李顾问 one."""
    data = settings_data(runtime)
    data["report"] = {"managers": ["wangwu"]}
    reconfigure(runtime, data)
    ids = []
    for name, userid, channel in (("小雨", "zhangsan", "xhs-diaper"),
                                  ("阿敏", "zhangsan", "xhs-diaper"),
                                  ("婷婷", "lisi", "store-poster")):  # fmt: skip
        follow, fields = added(sandbox.state, name, userid, channel)
        deliver(runtime, fields)
        worker.run(runtime, burst=True)
        with session(runtime.engine) as s:
            ids.append(contacts.get(s, follow.external_userid).id)
    staff_says(runtime, "zhangsan", f"签约 {ids[0]} 3980", msg_id=90)
    worker.run(runtime, burst=True)
    clock.advance(minutes=5)  # the manager asks a little later
    return ids


def ask(runtime, userid, text, msg_id):
    staff_says(runtime, userid, text, msg_id=msg_id)
    worker.run(runtime, burst=True)


def test_a_manager_gets_the_summary_and_the_dashboard(runtime, sandbox, shop):
    ask(runtime, "wangwu", "/report", 100)
    (text,) = sandbox.state.delivered_to("wangwu")
    assert text.startswith("经营报表 · 今天（11-22） · 全部顾问\n")
    assert "新增客户 3（较上期 +3）" in text
    assert "签约 1 单（+1），金额 3,980元" in text
    (image,) = sandbox.state.images_to("wangwu")
    assert image.startswith(PNG) and len(image) < 1024 * 1024


def test_a_focus_brings_its_own_charts(runtime, sandbox, shop):
    ask(runtime, "wangwu", "报表 本周 渠道", 101)
    (text,) = sandbox.state.delivered_to("wangwu")
    assert "小红书纸尿裤笔记：2 / 2 / 1 / 50.0%" in text
    assert "门店海报：1 / 1 / 0 / 0.0%" in text
    assert len(sandbox.state.images_to("wangwu")) == 2


def test_an_advisor_sees_only_his_own_numbers(runtime, sandbox, shop):
    ask(runtime, "lisi", "/report", 102)
    (text,) = sandbox.state.delivered_to("lisi")[-1:]
    assert "新增客户 1（较上期 +1）" in text and "签约 0 单" in text
    assert " · 全部顾问" not in text


def test_a_stranger_is_refused_politely(runtime, sandbox, shop):
    sandbox.state.users["zhaoliu"] = "赵六"
    ask(runtime, "zhaoliu", "/report", 103)
    assert sandbox.state.delivered_to("zhaoliu") == [report.REFUSED]
    assert sandbox.state.images_to("zhaoliu") == []


def test_words_that_name_no_period_get_examples(runtime, sandbox, shop):
    ask(runtime, "wangwu", "/report 下下周", 104)
    (text,) = sandbox.state.delivered_to("wangwu")
    assert text.startswith("没看懂时间「下下周」。可以写：今天、昨天")


def test_the_daily_push_arrives_once_per_manager_with_two_workers(runtime, sandbox, clock, shop):
    data = settings_data(runtime)
    data["report"] |= {
        "daily_at": "09:00",
        "webhook_url": f"{sandbox.url}/cgi-bin/webhook/send?key=team-robot",
    }
    reconfigure(runtime, data)
    clock.advance(days=1)  # 11-23 10:00: yesterday is the day the shop got its mothers
    assert ticker.queue_daily_report(runtime)
    assert not ticker.queue_daily_report(runtime)  # the other worker's ticker
    worker.run(runtime, burst=True)
    with runtime.context() as ctx:  # the job once more, as after a lost Redis key
        report.daily_push(ctx, clock.now().date().isoformat())
    (text,) = sandbox.state.delivered_to("wangwu")
    assert text.startswith("经营日报 · 昨天（11-22） · 全部顾问\n")
    assert "新增客户 3（较上期 +3）" in text
    assert len(sandbox.state.images_to("wangwu")) == 1
    robot = [m for m in sandbox.state.robot_messages if m.key == "team-robot"]
    assert len(robot) == 2
    assert robot[0].content == text and robot[1].image.startswith(PNG)
    assert not ticker.queue_daily_report(runtime)  # pushed today: not queued again


def test_no_push_before_its_hour(runtime, sandbox, clock, shop):
    data = settings_data(runtime)
    data["report"] |= {"daily_at": "11:30"}
    reconfigure(runtime, data)
    assert not ticker.queue_daily_report(runtime)
    clock.advance(hours=2)
    assert ticker.queue_daily_report(runtime)


def test_without_a_cjk_font_the_numbers_still_come_as_text(runtime, sandbox, shop, monkeypatch,
                                                          tmp_path):  # fmt: skip
    cjk_font.cache_clear()
    hide(monkeypatch, tmp_path, dirs=True, matplotlib=True, fontconfig=True)
    try:
        ask(runtime, "wangwu", "/report", 105)
    finally:
        cjk_font.cache_clear()
    (text,) = sandbox.state.delivered_to("wangwu")
    assert "新增客户 3" in text and sandbox.state.images_to("wangwu") == []
