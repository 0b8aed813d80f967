"""`sop tick --dry-run` tells, per due task, what the real tick and its jobs then do: sent,
deferred (quiet hours), capped, cancelled, skipped, or already handed over, with the reason,
naming mothers and groups as operators know them; and it changes nothing."""

from datetime import datetime, timedelta

from sqlmodel import select

from bot import worker
from bot.cli import main
from crm import config
from store import contacts, deliveries
from store.db import session
from store.models import Delivery, SopTask
from tests.support import CORP_ID, TZ, added, deliver, reconfigure, settings_data, tick
from wecom.sandbox.driver import contact_event

TRIAL = (
    '[[sop]]\nid = "trial"\nname = "试用回访"\ntarget = "contact"\n'
    'trigger = { type = "contact_added" }\nconditions = { skip_tags = ["已购买"] }\n'
    "steps = [\n"
    '  { id = "ask", minutes = 60, action = "send_text", text = "{name}，试用装用得怎么样？" },\n'
    '  { id = "tip", minutes = 60, action = "send_text", text = "小贴士：记得多喝水" },\n'
    "]\n"
)
GROUP_POSTS = "".join(
    f'[[sop]]\nid = "{name}"\nname = "{name}"\ntarget = "group"\n'
    'trigger = { type = "schedule", every = "day" }\n'
    f'steps = [{{ id = "post", at = "20:00", action = "mass_send", text = "{text}" }}]\n'
    for name, text in (("tip", "今日小知识"), ("promo", "周末活动"))
)


def at(day: int, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 11, 22, hour, minute, tzinfo=TZ) + timedelta(days=day)


def use(runtime, tmp_path, text, **sop):
    folder = tmp_path / "playbooks"
    folder.mkdir(exist_ok=True)
    (folder / "p.toml").write_text(text, encoding="utf-8")
    data = settings_data(runtime)
    data["sop"] |= {"playbooks": str(folder), **sop}
    data["followup"]["enabled"] = False  # only this playbook's tasks
    reconfigure(runtime, data)


def mothers(runtime, sandbox, *names):
    follows = {}
    for name in names:  # one at a time: this is not about concurrent callbacks
        follow, fields = added(sandbox.state, name)
        deliver(runtime, fields)
        follows[name] = follow.external_userid
        worker.run(runtime, burst=True)
    return follows


def everything(runtime):
    """Every task and ledger row, to see that a dry run changed nothing."""
    with session(runtime.engine) as s:
        tasks = [(t.id, t.sop_id, t.step_id, t.target, t.status, t.due_at, t.detail)
                 for t in s.exec(select(SopTask).order_by(SopTask.id))]  # fmt: skip
        ledger = [(d.key, d.status) for d in s.exec(select(Delivery).order_by(Delivery.key))]
    return tasks, ledger


def statuses(runtime):
    with session(runtime.engine) as s:
        return {t.id: (t.status, t.detail, t.due_at) for t in s.exec(select(SopTask))}


# what each outcome of the dry run becomes once the real tick's jobs have run
BECOMES = {"send": "sent", "capped": "pending", "cancelled": "cancelled", "skipped": "skipped",
           "handed over": "sent", "deferred": "pending"}  # fmt: skip


def test_each_due_task_is_told_as_the_real_run_then_does_it(runtime, sandbox, clock, tmp_path):
    use(runtime, tmp_path, TRIAL, daily_cap=1)
    ext = mothers(runtime, sandbox, "小雨", "小雪", "阿敏", "阿静")
    state = sandbox.state
    state.tag_in_console("zhangsan", ext["小雪"], "客户状态", "已购买")
    deliver(runtime, contact_event("edit_external_contact", CORP_ID, "zhangsan", ext["小雪"],
                                   1763790000))  # fmt: skip
    worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        amin = contacts.get(s, ext["阿敏"])
        amin.opted_out = True
        s.add(amin)
        ajing = contacts.get(s, ext["阿静"])
        ask = s.exec(select(SopTask).where(SopTask.target == f"c:{ajing.id}",
                                           SopTask.step_id == "ask")).one()  # fmt: skip
        s.commit()
        deliveries.claim(s, f"sop:{ask.id}", "sop", ask.target, clock.now())  # a worker died
    clock.set(at(0, "11:00"))
    before = everything(runtime)

    report = tick(runtime, clock.now(), dry_run=True)

    assert everything(runtime) == before
    told = {(o.who, o.step_id): (o.outcome, o.reason) for o in report.outcomes}
    send = ("send", "send_text: {name}，试用装用得怎么样？")
    tip = ("send", "send_text: 小贴士：记得多喝水")
    opted_out = ("cancelled", "opted out (and the SOP's other pending steps for this target)")
    assert told == {
        (f"小雨 · {ext['小雨']}", "ask"): send,
        (f"小雨 · {ext['小雨']}", "tip"): ("capped", "daily cap reached: moved to tomorrow"),
        (f"小雪 · {ext['小雪']}", "ask"): ("skipped", "tagged 已购买"),
        (f"小雪 · {ext['小雪']}", "tip"): ("skipped", "tagged 已购买"),
        (f"阿敏 · {ext['阿敏']}", "ask"): opted_out,
        (f"阿敏 · {ext['阿敏']}", "tip"): opted_out,
        (f"阿静 · {ext['阿静']}", "ask"): (
            "handed over", "its key is in the delivery ledger: marked sent, not sent again"),
        (f"阿静 · {ext['阿静']}", "tip"): tip,
    }  # fmt: skip

    tick(runtime, clock.now())
    worker.run(runtime, burst=True)
    after = statuses(runtime)
    for outcome in report.outcomes:
        status, detail, due_at = after[outcome.task_id]
        assert status == BECOMES[outcome.outcome], (outcome, status, detail)
        if outcome.outcome in ("capped", "skipped", "cancelled"):
            assert outcome.reason.startswith(detail), (outcome, detail)
        if outcome.outcome == "capped":
            assert due_at == at(1, "11:00")
    sent_to = sorted(t["external_userid"][0] for t in state.msg_templates)
    assert sent_to == sorted([ext["小雨"], ext["阿静"]])


def test_during_quiet_hours_every_due_task_is_deferred_to_their_end(
    runtime, sandbox, clock, tmp_path
):
    use(runtime, tmp_path, TRIAL)
    ext = mothers(runtime, sandbox, "小雨")
    clock.set(at(0, "22:00"))
    report = tick(runtime, clock.now(), dry_run=True)
    assert {(o.who, o.outcome, o.reason) for o in report.outcomes} == {
        (f"小雨 · {ext['小雨']}", "deferred",
         "until 2026-11-23T08:00+08:00 (quiet hours 21:30–08:00)"),
    } and len(report.outcomes) == len(report.due) == 2  # fmt: skip
    assert tick(runtime, clock.now()).deferred == 2
    after = statuses(runtime)
    assert {after[o.task_id][2] for o in report.outcomes} == {at(1, "08:00")}


def test_group_posts_capped_skipped_and_sent_by_group_name(runtime, sandbox, clock, tmp_path):
    use(runtime, tmp_path, GROUP_POSTS)
    ext = mothers(runtime, sandbox, "小雨")
    chat, created = sandbox.state.create_group("zhangsan", "孕妈群", [ext["小雨"]])
    deliver(runtime, created)
    empty, created = sandbox.state.create_group("zhangsan", "空群", [])
    deliver(runtime, created)
    worker.run(runtime, burst=True)
    clock.set(at(0, "20:00"))
    before = everything(runtime)

    report = tick(runtime, clock.now(), dry_run=True)  # plans today's posts, then rolls back

    assert everything(runtime) == before
    told = {(o.sop_id, o.who): (o.outcome, o.reason) for o in report.outcomes}
    assert told == {
        ("tip", f"孕妈群 · {chat}"): ("send", "mass_send: 今日小知识"),
        ("tip", f"空群 · {empty}"): ("skipped", "no customers in the group"),
        ("promo", f"孕妈群 · {chat}"): (
            "capped",
            "the group's daily mass send is used: skipped (a scheduled post is for its day)"),
        ("promo", f"空群 · {empty}"): ("skipped", "no customers in the group"),
    }  # fmt: skip
    tick(runtime, clock.now())
    worker.run(runtime, burst=True)
    after = statuses(runtime)
    with session(runtime.engine) as s:
        real = {(t.sop_id, t.target): t.id for t in s.exec(select(SopTask))}
    for outcome in report.outcomes:  # the real tick planned the same tasks afresh
        status, _detail, _due = after[real[(outcome.sop_id, outcome.target)]]
        assert status == {"capped": "skipped"}.get(outcome.outcome, BECOMES[outcome.outcome])
    assert [t["text"]["content"] for t in sandbox.state.msg_templates
            if t["chat_type"] == "group"] == ["今日小知识"]  # fmt: skip


def test_the_command_prints_names_and_outcomes(runtime, sandbox, clock, tmp_path, capsys):
    use(runtime, tmp_path, TRIAL, daily_cap=1)
    ext = mothers(runtime, sandbox, "小雨")
    path = config.write(tmp_path / "config.toml", settings_data(runtime))
    assert main(["sop", "tick", "--now", "2026-11-22T11:00:00+08:00", "--dry-run",
                 "--config", str(path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "2026-11-22T11:00+08:00 dry run: 2 task(s) due (nothing was changed)" in out
    assert f"#1  trial/ask  小雨 · {ext['小雨']}  would send: send_text: {{name}}，试用装" in out
    assert "capped: daily cap reached: moved to tomorrow" in out
    assert "send 1, capped 1" in out and "c:1" not in out
    assert runtime.queue("bulk").count == 0
    assert {status for status, _detail, _due in statuses(runtime).values()} == {"pending"}
