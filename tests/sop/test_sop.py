"""SOP sequences carried out from queued jobs, with a moved clock, through the sandbox."""

from datetime import datetime, timedelta

from sqlmodel import select

from bot import worker
from crm.context import Context
from sop import lifecycle, playbook
from store import contact_tags, contacts, deliveries
from store.db import session
from store.models import SopTask
from tests.support import CORP_ID, TZ, added, deliver, reconfigure, settings_data, tick
from wecom.sandbox.driver import contact_event


def at(day: int, hhmm: str) -> datetime:
    """Day `day` after 2026-11-22 (the tests' today), at HH:MM in Shanghai."""
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 11, 22, hour, minute, tzinfo=TZ) + timedelta(days=day)


def mid_pregnancy_mother(runtime, sandbox):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        contact = contacts.get(s, follow.external_userid)
        due = runtime.clock.now().date() + timedelta(days=280 - 7 * 20)  # 孕20周 today
        assert lifecycle.set_dates(Context(s, runtime), contact, due_date=due) == "孕中期"
        s.commit()
    return contact.id, follow.external_userid


def due(report, sop_id="mid-pregnancy"):
    return [task for task in report.due if task[1] == sop_id]


def run_at(runtime, clock, moment):
    clock.set(moment)
    report = tick(runtime, moment)
    worker.run(runtime, burst=True)
    return report


def sent_texts(sandbox, external):
    return [
        (t.get("attachments") or [{"link": {"title": t["text"]["content"]}}])[0]["link"]["title"]
        if t.get("attachments") else t["text"]["content"]
        for t in sandbox.state.msg_templates if external in t["external_userid"]
    ]  # fmt: skip


def tasks(runtime, contact_id, sop_id="mid-pregnancy"):
    with session(runtime.engine) as s:
        rows = s.exec(select(SopTask).where(SopTask.target == f"c:{contact_id}",
                                            SopTask.sop_id == sop_id)).all()  # fmt: skip
    return {row.step_id: row.status for row in rows}


def test_entering_mid_pregnancy_gets_day_1_3_7_once_each(runtime, sandbox, clock):
    contact_id, ext = mid_pregnancy_mother(runtime, sandbox)
    assert tasks(runtime, contact_id) == {"nutrition": "pending", "live-class": "pending",
                                          "coupon": "pending"}  # fmt: skip
    assert due(run_at(runtime, clock, at(1, "09:59"))) == []
    run_at(runtime, clock, at(1, "10:00"))
    run_at(runtime, clock, at(1, "10:01"))  # the next minute's tick finds nothing new
    assert sent_texts(sandbox, ext) == ["孕中期营养指南"]
    run_at(runtime, clock, at(3, "19:30"))
    run_at(runtime, clock, at(7, "11:00"))
    run_at(runtime, clock, at(7, "11:01"))
    assert len(sent_texts(sandbox, ext)) == 3
    assert tasks(runtime, contact_id) == {"nutrition": "sent", "live-class": "sent",
                                          "coupon": "sent"}  # fmt: skip
    template = sandbox.state.msg_templates[0]
    assert template["sender"] == "zhangsan" and template["chat_type"] == "single"


def test_quiet_hours_defer_to_the_morning(runtime, sandbox, clock):
    _contact_id, ext = mid_pregnancy_mother(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    report = run_at(runtime, clock, at(3, "22:15"))  # the 19:30 step was missed until 22:15
    assert report.deferred == 1 and report.queued == 0
    assert len(sent_texts(sandbox, ext)) == 1
    assert due(run_at(runtime, clock, at(4, "07:59"))) == []
    run_at(runtime, clock, at(4, "08:00"))
    assert len(sent_texts(sandbox, ext)) == 2


def test_a_stage_change_mid_sequence_cancels_the_rest(runtime, sandbox, clock):
    contact_id, _ext = mid_pregnancy_mother(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    with session(runtime.engine) as s:
        contact = s.get(contacts.Contact, contact_id)
        lifecycle.set_dates(Context(s, runtime), contact, birthday=clock.now().date())
        s.commit()
    run_at(runtime, clock, at(3, "19:30"))
    assert tasks(runtime, contact_id) == {"nutrition": "sent", "live-class": "cancelled",
                                          "coupon": "cancelled"}  # fmt: skip
    assert "newborn-care" in {t for t in _sops_of(runtime, contact_id)}


def _sops_of(runtime, contact_id):
    with session(runtime.engine) as s:
        return {
            r.sop_id for r in s.exec(select(SopTask).where(SopTask.target == f"c:{contact_id}"))
        }


def test_an_opt_out_stops_everything(runtime, sandbox, clock):
    contact_id, ext = mid_pregnancy_mother(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    with session(runtime.engine) as s:
        contact = s.get(contacts.Contact, contact_id)
        contact.opted_out = True
        s.add(contact)
        s.commit()
    run_at(runtime, clock, at(3, "19:30"))
    run_at(runtime, clock, at(7, "11:00"))
    assert len(sent_texts(sandbox, ext)) == 1
    assert set(tasks(runtime, contact_id).values()) == {"sent", "cancelled"}


def test_a_send_claimed_by_a_worker_that_died_is_not_repeated(runtime, sandbox, clock):
    contact_id, ext = mid_pregnancy_mother(runtime, sandbox)
    clock.set(at(1, "10:00"))
    tick(runtime, clock.now())
    with session(runtime.engine) as s:  # a worker claimed it, sent, and died before recording
        task = s.exec(select(SopTask).where(SopTask.step_id == "nutrition")).one()
        deliveries.claim(s, f"sop:{task.id}", "sop", task.target, clock.now())
    worker.run(runtime, burst=True)
    assert sent_texts(sandbox, ext) == []  # not sent a second time
    assert tasks(runtime, contact_id)["nutrition"] == "sent"


def test_the_advisor_gets_her_tasks(runtime, sandbox, clock):
    _contact_id, _ = mid_pregnancy_mother(runtime, sandbox)
    with session(runtime.engine) as s:
        rows = s.exec(select(SopTask).where(SopTask.sop_id == "due-minus-30")).all()
    (task,) = rows
    run_at(runtime, clock, task.due_at.astimezone(TZ))
    (notice,) = [m for m in sandbox.state.delivered_to("zhangsan") if "预产期前30天" in m]
    assert notice.startswith(
        "【SOP】预产期前30天：顾问电话\n客户：小雨（编号 1）\n客户离预产期还有30天"
    )


def edit_playbook(runtime, tmp_path, old: str, new: str):
    folder = tmp_path / "playbooks"
    folder.mkdir(exist_ok=True)
    text = (playbook.DEFAULT_DIR / "playbook.toml").read_text(encoding="utf-8")
    assert old in text
    (folder / "playbook.toml").write_text(text.replace(old, new), encoding="utf-8")
    data = settings_data(runtime)
    data["sop"]["playbooks"] = str(folder)
    reconfigure(runtime, data)


def test_an_edited_playbook_changes_running_sequences_without_repeating(
    runtime, sandbox, clock, tmp_path
):
    contact_id, ext = mid_pregnancy_mother(runtime, sandbox)
    run_at(runtime, clock, at(1, "10:00"))
    coupon = '{ id = "coupon", day = 7, at = "11:00"'
    edit_playbook(runtime, tmp_path, coupon,
                  '{ id = "check", day = 5, at = "10:00", action = "send_text", '
                  'text = "产检了吗？" },\n'
                  '  { id = "hello", immediate = true, action = "send_text", text = "嗨" },\n'
                  '  { id = "coupon", day = 7, at = "15:00"')  # fmt: skip
    report = run_at(runtime, clock, at(2, "10:00"))
    assert report.edited == ["mid-pregnancy"]
    run_at(runtime, clock, at(5, "10:00"))
    run_at(runtime, clock, at(7, "11:00"))
    assert sent_texts(sandbox, ext)[-1] == "产检了吗？"
    run_at(runtime, clock, at(7, "15:00"))
    assert len(sent_texts(sandbox, ext)) == 4 and sent_texts(sandbox, ext)[-1].startswith("送你")
    assert tasks(runtime, contact_id) == {"nutrition": "sent", "live-class": "sent",
                                          "check": "sent", "coupon": "sent"}  # fmt: skip


def test_a_tag_given_in_wecom_starts_its_sop(runtime, sandbox, clock):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    state = sandbox.state
    clock.set(at(0, "14:00"))
    state.tag_in_console("zhangsan", follow.external_userid, "客户意向", "到店意向")
    edited = contact_event("edit_external_contact", CORP_ID, "zhangsan", follow.external_userid,
                           int(clock.now().timestamp()))  # fmt: skip
    deliver(runtime, edited)
    deliver(runtime, edited | {"CreateTime": edited["CreateTime"] + 60})  # edited again
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "14:01"))
    (task,) = [m for m in state.delivered_to("zhangsan") if "到店意向" in m]
    assert task.startswith("【SOP】到店意向：顾问跟进\n客户：小雨")
    with session(runtime.engine) as s:
        contact = contacts.get(s, follow.external_userid)
        assert {"小红书", "纸尿裤", "到店意向"} <= contact_tags.names(s, contact.id)


def test_a_tag_she_has_skips_the_step(runtime, sandbox, clock, tmp_path):
    folder = tmp_path / "tagged"
    folder.mkdir()
    (folder / "p.toml").write_text(
        '[[sop]]\nid = "trial"\nname = "试用回访"\ntarget = "contact"\n'
        'trigger = { type = "contact_added" }\nconditions = { skip_tags = ["已购买"] }\n'
        'steps = [{ id = "ask", minutes = 60, action = "send_text", '
        'text = "{name}，试用装用得怎么样？" }]\n',
        encoding="utf-8",
    )
    data = settings_data(runtime)
    data["sop"]["playbooks"] = str(folder)
    reconfigure(runtime, data)
    first, fields = added(sandbox.state, "小雨")
    deliver(runtime, fields)
    second, fields = added(sandbox.state, "小雪")
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    sandbox.state.tag_in_console("zhangsan", second.external_userid, "客户状态", "已购买")
    edited = contact_event(
        "edit_external_contact", CORP_ID, "zhangsan", second.external_userid, 1763790000
    )
    deliver(runtime, edited)
    worker.run(runtime, burst=True)
    run_at(runtime, clock, at(0, "11:00"))
    assert sent_texts(sandbox, first.external_userid) == ["小雨，试用装用得怎么样？"]
    assert sent_texts(sandbox, second.external_userid) == []
    with session(runtime.engine) as s:
        (task,) = s.exec(select(SopTask).where(SopTask.sop_id == "trial",
                                               SopTask.status == "skipped")).all()  # fmt: skip
    assert task.detail == "tagged 已购买"


def test_the_daily_cap_holds_when_another_worker_took_the_last_send(runtime, sandbox, clock):
    data = settings_data(runtime)
    data["sop"]["daily_cap"] = 1
    reconfigure(runtime, data)
    contact_id, ext = mid_pregnancy_mother(runtime, sandbox)
    clock.set(at(1, "10:00"))
    with session(runtime.engine) as s:  # a send by another worker, this very moment
        assert deliveries.claim(s, f"cap:c:{contact_id}:{at(1, '10:00').date()}:0", "cap",
                                f"c:{contact_id}", clock.now())  # fmt: skip
    run_at(runtime, clock, at(1, "10:00"))
    assert sent_texts(sandbox, ext) == []
    assert tasks(runtime, contact_id)["nutrition"] == "pending"  # moved to tomorrow
    run_at(runtime, clock, at(2, "10:00"))
    assert sent_texts(sandbox, ext) == ["孕中期营养指南"]


def test_a_task_whose_job_was_lost_is_queued_again(runtime, sandbox, clock, redis):
    _contact_id, ext = mid_pregnancy_mother(runtime, sandbox)
    clock.set(at(1, "10:00"))
    assert due(tick(runtime, clock.now()))
    redis.flushall()  # Redis lost the jobs
    worker.run(runtime, burst=True)
    assert sent_texts(sandbox, ext) == []
    assert tick(runtime, at(1, "10:10")).requeued == 0
    report = run_at(runtime, clock, at(1, "10:16"))
    assert report.requeued >= 1
    run_at(runtime, clock, at(1, "10:17"))
    assert sent_texts(sandbox, ext) == ["孕中期营养指南"]
