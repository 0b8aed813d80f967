"""Customer groups (客户群) through the sandbox with a moved clock: groups are kept from the
callbacks, newcomers are welcomed by the owner, the daily tip is one mass send per owner."""

from datetime import datetime, timedelta

from sqlmodel import select

from bot import worker
from bot.cli import main
from crm.context import Context
from handlers.groups import sync
from store import groups
from store.db import session
from store.models import SopTask
from tests.support import TZ, added, deliver, reconfigure, settings_data, tick


def at(day: int, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 11, 22, hour, minute, tzinfo=TZ) + timedelta(days=day)


def run_at(runtime, clock, moment):
    clock.set(moment)
    report = tick(runtime, moment)
    worker.run(runtime, burst=True)
    return report


def mothers(runtime, sandbox, *names):
    externals = []
    for name in names:
        follow, fields = added(sandbox.state, name)
        deliver(runtime, fields)
        externals.append(follow.external_userid)
    worker.run(runtime, burst=True)
    return externals


def group_posts(sandbox):
    return [t for t in sandbox.state.msg_templates if t["chat_type"] == "group"]


def welcomes(sandbox, owner="zhangsan"):
    return [m for m in sandbox.state.delivered_to(owner) if m.startswith("【SOP】新人进群欢迎")]


def test_newcomers_are_welcomed_by_the_owner_and_every_group_gets_the_daily_tip(
    runtime, sandbox, clock
):
    xiaoyu, xiaoxue, lili = mothers(runtime, sandbox, "小雨", "小雪", "莉莉")
    state = sandbox.state
    chat_a, created = state.create_group("zhangsan", "孕妈交流群1", [xiaoyu])
    deliver(runtime, created)
    chat_b, created_b = state.create_group("zhangsan", "孕妈交流群2", [xiaoxue])
    deliver(runtime, created_b)
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "10:01"))
    assert len(welcomes(sandbox)) == 2  # one per group, in whichever order they were handled
    assert any("小雨 刚加入「孕妈交流群1」" in text for text in welcomes(sandbox))

    clock.set(at(0, "15:00"))
    joined = state.join_group(chat_a, [lili])
    deliver(runtime, joined)
    worker.run(runtime, burst=True)
    renamed = joined | {"UpdateDetail": "change_name", "CreateTime": joined["CreateTime"] + 5}
    deliver(runtime, renamed)  # another update: the group is read again, nobody new
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "15:01"))
    assert len(welcomes(sandbox)) == 3 and "莉莉 刚加入「孕妈交流群1」" in welcomes(sandbox)[2]
    with session(runtime.engine) as s:
        group = groups.get(s, chat_a)
    assert (group.members, group.customers, group.owner_userid) == (3, 2, "zhangsan")

    assert run_at(runtime, clock, at(0, "19:59")).queued == 0
    run_at(runtime, clock, at(0, "20:00"))
    run_at(runtime, clock, at(0, "20:01"))
    (post,) = group_posts(sandbox)  # one confirmation for the owner, both her groups in it
    assert post["sender"] == "zhangsan" and sorted(post["chat_id_list"]) == sorted([chat_a, chat_b])
    assert post["text"]["content"].startswith("今日小知识")

    deliver(runtime, state.dismiss_group(chat_b))
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(1, "20:00"))
    assert [p["chat_id_list"] for p in group_posts(sandbox)] == [post["chat_id_list"], [chat_a]]
    with session(runtime.engine) as s:
        assert groups.get(s, chat_b).dismissed


def test_members_who_joined_as_the_group_was_made_are_welcomed(runtime, sandbox, clock):
    (xiaoyu,) = mothers(runtime, sandbox, "小雨")
    _chat, created = sandbox.state.create_group("zhangsan", "孕妈群", [xiaoyu])
    deliver(runtime, created | {"CreateTime": created["CreateTime"] + 2})  # WeCom's clock
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "10:01"))
    assert len(welcomes(sandbox)) == 1


def test_a_scheduled_post_missed_on_its_day_is_not_sent_late(runtime, sandbox, clock):
    (xiaoyu,) = mothers(runtime, sandbox, "小雨")
    chat, created = sandbox.state.create_group("zhangsan", "孕妈群", [xiaoyu])
    deliver(runtime, created)
    worker.run(runtime, burst=True)
    report = run_at(runtime, clock, at(0, "23:00"))  # the worker was down at 20:00
    assert report.deferred >= 1
    run_at(runtime, clock, at(1, "08:00"))
    assert group_posts(sandbox) == []
    with session(runtime.engine) as s:
        query = select(SopTask).where(
            SopTask.target == f"g:{chat}", SopTask.trigger_key == "schedule:2026-11-22"
        )
        task = s.exec(query).one()
    assert task.status == "skipped" and "missed its day" in task.detail


def test_groups_without_customers_get_no_tip(runtime, sandbox, clock):
    _chat, created = sandbox.state.create_group("zhangsan", "内部测试群", [])
    deliver(runtime, created)
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "20:00"))
    assert group_posts(sandbox) == []


def test_sync_reads_existing_groups_as_a_baseline(runtime, sandbox, clock, capsys):
    xiaoyu, xiaoxue = mothers(runtime, sandbox, "小雨", "小雪")
    chat, _ = sandbox.state.create_group("lisi", "老客户群", [xiaoyu, xiaoxue])
    with session(runtime.engine) as s:
        report = sync(Context(s, runtime))
    assert (report.groups, report.dismissed) == (1, 0)
    run_at(runtime, clock, at(0, "10:05"))
    assert welcomes(sandbox, "lisi") == []  # members found by a sync are not newcomers
    with session(runtime.engine) as s:
        assert groups.get(s, chat).customers == 2
    sandbox.state.dismiss_group(chat)  # its callback was lost: the next sync notices
    with session(runtime.engine) as s:
        assert sync(Context(s, runtime)).dismissed == 1


def test_a_member_who_leaves_and_comes_back_is_welcomed_again(runtime, sandbox, clock):
    xiaoyu, lili = mothers(runtime, sandbox, "小雨", "莉莉")
    chat, created = sandbox.state.create_group("zhangsan", "孕妈群", [xiaoyu])
    deliver(runtime, created)
    clock.set(at(0, "11:00"))
    deliver(runtime, sandbox.state.join_group(chat, [lili]))
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "11:01"))
    clock.set(at(0, "12:00"))
    deliver(runtime, sandbox.state.leave_group(chat, lili))
    worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        assert groups.get(s, chat).customers == 1
    clock.set(at(1, "09:00"))
    deliver(runtime, sandbox.state.join_group(chat, [lili]))
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(1, "09:01"))
    assert sum("莉莉 刚加入" in m for m in welcomes(sandbox)) == 2


def test_groups_list_and_sop_list_show_groups(runtime, sandbox, capsys, tmp_path):
    (xiaoyu,) = mothers(runtime, sandbox, "小雨")
    _chat, created = sandbox.state.create_group("zhangsan", "孕妈群", [xiaoyu])
    deliver(runtime, created)
    worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        assert [g.name for g in groups.listing(s)] == ["孕妈群"]
    assert main(["sop", "list", "--playbooks", "sop/default"]) == 0
    assert "group-daily-tip  孕妈群每日小知识  [group] schedule day" in capsys.readouterr().out


def test_weekly_posts_and_posts_to_an_internal_group(runtime, sandbox, clock, tmp_path):
    chatid = runtime.wecom("app").post(
        "appchat/create", json={"name": "顾问群", "userlist": ["zhangsan", "lisi"]}
    )["chatid"]
    folder = tmp_path / "weekly"
    folder.mkdir()
    (folder / "p.toml").write_text(
        '[[sop]]\nid = "weekly"\nname = "周一群周报"\ntarget = "group"\n'
        'trigger = { type = "schedule", every = "week", weekday = 1 }\n'
        'groups = { name_contains = ["孕妈"] }\n'
        f'steps = [{{ id = "report", at = "09:00", action = "appchat_post", chat = "{chatid}", '
        'text = "本周「{group}」由{advisor}值班，记得每天分享小知识。" }]\n',
        encoding="utf-8",
    )
    data = settings_data(runtime)
    data["sop"]["playbooks"] = str(folder)
    reconfigure(runtime, data)
    (xiaoyu,) = mothers(runtime, sandbox, "小雨")
    for name in ("孕妈群", "老客户群"):
        deliver(runtime, sandbox.state.create_group("zhangsan", name, [xiaoyu])[1])
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(1, "09:00"))  # 2026-11-23 is a Monday
    run_at(runtime, clock, at(2, "09:00"))
    (post,) = sandbox.state.appchat_posts
    assert post["chatid"] == chatid
    assert post["text"]["content"] == "本周「孕妈群」由张顾问值班，记得每天分享小知识。"


def test_the_tick_plans_a_days_posts_once(runtime, sandbox, clock):
    (xiaoyu,) = mothers(runtime, sandbox, "小雨")
    sandbox.state.create_group("zhangsan", "孕妈群", [xiaoyu])
    with session(runtime.engine) as s:
        sync(Context(s, runtime))
    assert tick(runtime, at(1, "00:01")).planned == 1
    assert tick(runtime, at(1, "00:02")).planned == 0
    assert tick(runtime, at(1, "00:03"), dry_run=True).planned == 1  # a dry run looks afresh


def test_a_group_gets_one_mass_send_a_day(runtime, sandbox, clock, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "p.toml").write_text("".join(
        f'[[sop]]\nid = "{name}"\nname = "{name}"\ntarget = "group"\n'
        'trigger = { type = "schedule", every = "day" }\n'
        f'steps = [{{ id = "post", at = "{hhmm}", action = "mass_send", text = "{name}" }}]\n'
        for name, hhmm in (("tip", "20:00"), ("promo", "20:30"))
    ), encoding="utf-8")  # fmt: skip
    data = settings_data(runtime)
    data["sop"]["playbooks"] = str(folder)
    reconfigure(runtime, data)
    (xiaoyu,) = mothers(runtime, sandbox, "小雨")
    deliver(runtime, sandbox.state.create_group("zhangsan", "孕妈群", [xiaoyu])[1])
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "20:00"))
    run_at(runtime, clock, at(0, "20:30"))
    assert [p["text"]["content"] for p in group_posts(sandbox)] == ["tip"]
    with session(runtime.engine) as s:
        promo = s.exec(select(SopTask).where(SopTask.sop_id == "promo")).one()
    assert promo.status == "skipped" and promo.detail == "the group's daily mass send is used"
