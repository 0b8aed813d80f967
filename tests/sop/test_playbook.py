"""SOP playbooks: the default one is complete, valid and true whenever it is sent; mistakes
(placeholders included) are named precisely; a step's texts are taken one a day, in turn."""

import itertools
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot import worker
from bot.cli import main
from crm.config import FollowUpSettings
from sop import playbook
from tests.support import TZ, added, deliver, reconfigure, settings_data, tick

GOOD_STEP = 'steps = [{ id = "s1", day = 1, at = "10:00", action = "send_text", text = "你好" }]'


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_playbook_has_what_a_brand_needs():
    sops = {sop.id: sop for sop in playbook.load()}
    assert {"preparing-weekly", "early-pregnancy", "week-12-records", "mid-pregnancy",
            "late-pregnancy", "due-minus-30", "newborn-care", "six-months-solids",
            "first-birthday", "group-welcome", "group-daily-tip"} <= set(sops)  # fmt: skip
    mid = sops["mid-pregnancy"]
    assert [(s.id, s.day) for s in mid.steps] == [
        ("nutrition", 1),
        ("live-class", 3),
        ("coupon", 7),
    ]
    assert sops["due-minus-30"].trigger.offset_days == -30
    assert sops["group-daily-tip"].target == "group"
    assert sops["group-daily-tip"].steps[0].action == "mass_send"
    assert sops["group-welcome"].trigger.type == "group_member_joined"
    tips = sops["group-daily-tip"].steps[0].texts
    assert len(set(tips)) == len(tips) >= 14 and all(t.startswith("今日小知识：") for t in tips)


def sent_texts(sop: playbook.Sop) -> list[str]:
    """What a SOP's steps may send: text, texts, and the titles and descriptions of links."""
    fields = ([step.text, *(step.texts or []), step.title, step.desc] for step in sop.steps)
    return [text for texts in fields for text in texts if text]


WEEKDAY = re.compile(r"周[一二三四五六日天末]|星期|礼拜|本周|下周|这周")
WHEN = re.compile(r"\d+\s*点|\d{1,2}[:：]\d{2}|\d+月\d+[日号]|[今明]晚|明天|后天")
OFFER = re.compile(r"券|满\d+减|有效期|限时|免费|礼品|赠品|送你一[张份]|领取")


def test_the_default_texts_are_true_whatever_day_they_are_sent():
    sops = [*playbook.load(), playbook.followup_sla(FollowUpSettings())]
    texts = [text for sop in sops for text in sent_texts(sop)]
    assert len(texts) > 30
    for text in texts:
        assert not WEEKDAY.search(text), f"names a weekday: {text}"
        assert not WHEN.search(text), f"names a time or date: {text}"
        assert not OFFER.search(text), f"promises an offer: {text}"


def test_texts_are_taken_one_a_day_in_turn():
    tip = {sop.id: sop for sop in playbook.load()}["group-daily-tip"].steps[0]
    days = [date(2026, 11, 22) + timedelta(days=n) for n in range(2 * len(tip.texts))]
    chosen = [tip.text_on(day) for day in days]
    assert all(today != tomorrow for today, tomorrow in itertools.pairwise(chosen))
    assert set(chosen[: len(tip.texts)]) == set(tip.texts)  # each of them, in turn
    assert chosen[: len(tip.texts)] == chosen[len(tip.texts) :]
    assert [tip.text_on(day) for day in days] == chosen  # the same day, the same text
    plain = playbook.Step(id="s", at="10:00", action="send_text", text="你好")
    assert {plain.text_on(day) for day in days} == {"你好"}


def test_the_day_a_step_is_due_is_the_planned_one():
    """The text is chosen by the day the planner timed the step for, not by when its task
    goes out (a retry, quiet hours or the daily cap move that), so every attempt says the same."""
    step = playbook.Step(id="s", day=3, at="19:30", action="send_text", texts=["a", "b"])
    late = datetime(2026, 11, 22, 23, 30, tzinfo=TZ)  # 15:30 UTC
    assert step.due_day(late, TZ) == date(2026, 11, 25)
    post = playbook.Step(id="p", at="20:00", action="mass_send", texts=["a", "b"])
    assert post.due_day(datetime(2026, 11, 23, tzinfo=TZ), TZ) == date(2026, 11, 23)
    soon = playbook.Step(id="m", minutes=120, action="send_text", texts=["a", "b"])
    assert soon.due_day(late, TZ) == date(2026, 11, 23)


def test_group_sops_keep_to_what_groups_can_receive(tmp_path):
    write(tmp_path, "g.toml", '[[sop]]\nid = "g"\nname = "G"\ntarget = "group"\n'
          'trigger = { type = "schedule", every = "day" }\n' + GOOD_STEP)  # fmt: skip
    with pytest.raises(playbook.PlaybookError, match='sop "g": step s1: a group SOP can only'):
        playbook.load(tmp_path)
    write(tmp_path, "g.toml", '[[sop]]\nid = "g"\nname = "G"\ntarget = "group"\n'
          'trigger = { type = "schedule", every = "day" }\n'
          'steps = [{ id = "now", immediate = true, action = "mass_send", '
          'text = "hi" }]')  # fmt: skip
    with pytest.raises(playbook.PlaybookError, match="step now: a scheduled step needs at"):
        playbook.load(tmp_path)


def test_the_follow_up_sla_comes_from_the_config(tmp_path):
    sla = playbook.followup_sla(FollowUpSettings(remind_after_minutes=60,
                                                 escalate_after_minutes=480))  # fmt: skip
    assert [(s.id, s.minutes, s.action) for s in sla.steps] == [
        ("remind", 60, "advisor_task"), ("escalate", 480, "escalate")]  # fmt: skip
    with pytest.raises(ValueError, match="escalate_after_minutes must be more"):
        FollowUpSettings(remind_after_minutes=60, escalate_after_minutes=60)
    remind = sla.steps[0].text  # {minutes} is filled in when the SLA is made; the rest is checked
    assert "已等待60分钟" in remind and "{name}" in remind and "{no}" in remind
    assert "{minutes}" not in remind


@pytest.mark.parametrize(
    ("sop", "message"),
    [
        (
            'trigger = { type = "stage_entered", stage = "孕中期" }\n'
            'steps = [{ id = "coupon", day = 7, action = "send_text", text = "券" }]',
            'sop "x" step "coupon": give one of at = "HH:MM", immediate = true or minutes = N',
        ),
        (
            'trigger = { type = "stage_entered", stage = "孕中期" }\n'
            'steps = [{ id = "late", day = 1, at = "25:00", action = "send_text", text = "hi" }]',
            'sop "x" step "late": at must be HH:MM',
        ),
        (
            'trigger = { type = "stage_entered", stage = "孕中期" }\n'
            'steps = [{ id = "link", day = 1, at = "10:00", action = "send_link", title = "t" }]',
            'sop "x" step "link": send_link needs url',
        ),
        (
            'trigger = { type = "stage_entered", stage = "孕五期" }\n' + GOOD_STEP,
            'sop "x" trigger: stage must be one of',
        ),
        (
            'trigger = { type = "schedule", every = "day" }\n' + GOOD_STEP,
            'sop "x": a schedule trigger does not fit target contact',
        ),
        (
            'trigger = { type = "stage_entered", stage = "孕中期" }\n'
            'steps = [{ id = "soon", minutes = 30, action = "send_text", text = "hi" }]',
            'sop "x": step soon: minutes only count from contact_added, group_member_joined',
        ),
        (
            'trigger = { type = "stage_entered", stage = "孕中期" }\ncolour = "red"\n' + GOOD_STEP,
            'sop "x" colour: Extra inputs are not permitted',
        ),
        (
            'trigger = { type = "stage_entered", stage = "孕中期" }\n'
            'steps = [{ id = "day1", day = 1, at = "10:00", action = "send_text", '
            'text = "{nmae}，孕中期快乐" }]',
            'sop "x" step "day1": unknown placeholder {nmae} (use {name}, {advisor}, {stage}, '
            "{no})",
        ),
        (
            'trigger = { type = "contact_added" }\n'
            'steps = [{ id = "s1", minutes = 5, action = "advisor_task", '
            'text = "「{group}」{Name}" }]',
            'sop "x" step "s1": unknown placeholders {group}, {Name} (use {name}, {advisor}, '
            "{stage}, {no})",
        ),
        (
            'trigger = { type = "contact_added" }\n'
            'steps = [{ id = "link", minutes = 5, action = "send_link", title = "{name}的清单", '
            'url = "https://example.com" }]',
            'sop "x" step "link" title: placeholder {name} is not filled in here: title is sent as '
            "written",
        ),
        (
            'trigger = { type = "contact_added" }\n'
            'steps = [{ id = "s1", minutes = 5, action = "send_text", text = "a", texts = ["b"] }]',
            'sop "x" step "s1": give text or texts, not both',
        ),
        (
            'trigger = { type = "contact_added" }\n'
            'steps = [{ id = "s1", minutes = 5, action = "send_text" }]',
            'sop "x" step "s1": send_text needs text or texts',
        ),
        (
            'trigger = { type = "contact_added" }\n'
            'steps = [{ id = "s1", minutes = 5, action = "send_text", texts = [] }]',
            'sop "x" step "s1" texts: List should have at least 1 item',
        ),
        (
            'trigger = { type = "contact_added" }\n'
            'steps = [{ id = "s1", minutes = 5, action = "send_text", texts = ["a", " "] }]',
            'sop "x" step "s1" texts[1]: must not be empty',
        ),
        (
            'trigger = { type = "contact_added" }\n'
            'steps = [{ id = "s1", minutes = 5, action = "send_text", texts = ["a", 2] }]',
            'sop "x" step "s1" texts[1]: Input should be a valid string',
        ),
        (
            'trigger = { type = "contact_added" }\n'
            'steps = [{ id = "s1", minutes = 5, action = "send_text", '
            'texts = ["{name}好", "{nmae}好"] }]',
            'sop "x" step "s1" texts[1]: unknown placeholder {nmae} (use {name}, {advisor}, '
            "{stage}, {no})",
        ),
    ],
)
def test_mistakes_name_file_sop_and_step(tmp_path, sop, message):
    path = write(
        tmp_path, "bad.toml", f'[[sop]]\nid = "x"\nname = "X"\ntarget = "contact"\n{sop}\n'
    )
    with pytest.raises(playbook.PlaybookError) as info:
        playbook.load(tmp_path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_an_sop_id_used_twice_is_refused(tmp_path, capsys):
    block = ('[[sop]]\nid = "dup"\nname = "D"\ntarget = "contact"\n'
             'trigger = { type = "contact_added" }\n' + GOOD_STEP + "\n")  # fmt: skip
    write(tmp_path, "a.toml", block)
    write(tmp_path, "b.toml", block)
    assert main(["sop", "check", "--playbooks", str(tmp_path)]) == 2
    assert "sop id 'dup' is used twice" in capsys.readouterr().err


GROUP_SOP = '[[sop]]\nid = "g"\nname = "G"\ntarget = "group"\n'
GROUP_DAILY = GROUP_SOP + 'trigger = { type = "schedule", every = "day" }\n'


def test_a_group_step_has_the_placeholders_of_a_group(tmp_path, capsys):
    tip = 'id = "tip", at = "20:00", action = "mass_send"'
    texts = 'texts = ["「{group}」的{advisor}", "{name}你好"]'
    path = write(tmp_path, "g.toml", GROUP_DAILY + f"steps = [{{ {tip}, {texts} }}]")
    assert main(["sop", "check", "--playbooks", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f'mombot: {path}: sop "g" step "tip" texts[1]: unknown placeholder {{name}} '
        "(use {group}, {newcomers}, {advisor})"
    )
    write(tmp_path, "g.toml", GROUP_SOP + 'trigger = { type = "group_member_joined" }\n'
          'steps = [{ id = "hi", immediate = true, action = "advisor_task", '
          'text = "{newcomers} 加入了「{group}」" }]')  # fmt: skip
    assert main(["sop", "check", "--playbooks", str(tmp_path)]) == 0


def test_mombot_sop_check_refuses_an_unknown_placeholder(tmp_path, capsys):
    path = write(tmp_path, "p.toml", '[[sop]]\nid = "mid-pregnancy"\nname = "孕中期"\n'
                 'target = "contact"\ntrigger = { type = "stage_entered", stage = "孕中期" }\n'
                 'steps = [{ id = "day1", day = 1, at = "10:00", action = "send_text", '
                 'text = "{nmae}，你好" }]\n')  # fmt: skip
    assert main(["sop", "check", "--playbooks", str(tmp_path)]) == 2
    assert (f'{path}: sop "mid-pregnancy" step "day1": unknown placeholder {{nmae}} (use {{name}}, '
            "{advisor}, {stage}, {no})") in capsys.readouterr().err  # fmt: skip


def test_braces_that_are_no_placeholder_pass(tmp_path):
    write(tmp_path, "p.toml", '[[sop]]\nid = "x"\nname = "X"\ntarget = "contact"\n'
          'trigger = { type = "contact_added" }\n'
          "steps = [{ id = \"s1\", minutes = 5, action = \"send_text\", "
          "text = '{name}，回复{ 1 }或 {\"a\": 1}，{} 也行' }]\n")  # fmt: skip
    (sop,) = playbook.load(tmp_path)
    assert sop.steps[0].text == '{name}，回复{ 1 }或 {"a": 1}，{} 也行'


def group_posts(sandbox) -> list[str]:
    return [t["text"]["content"] for t in sandbox.state.msg_templates if t["chat_type"] == "group"]


def test_the_daily_group_tip_is_another_one_the_next_day(runtime, sandbox, clock):
    follow, fields = added(sandbox.state, "小雨")
    deliver(runtime, fields)
    _chat, created = sandbox.state.create_group("zhangsan", "孕妈群", [follow.external_userid])
    deliver(runtime, created)
    worker.run(runtime, burst=True)
    for day in (0, 1):
        moment = datetime(2026, 11, 22, 20, 0, tzinfo=TZ) + timedelta(days=day)
        clock.set(moment)
        tick(runtime, moment)
        worker.run(runtime, burst=True)
    tip = {sop.id: sop for sop in playbook.load()}["group-daily-tip"].steps[0]
    today, tomorrow = group_posts(sandbox)
    assert (today, tomorrow) == (tip.text_on(date(2026, 11, 22)), tip.text_on(date(2026, 11, 23)))
    assert today != tomorrow


def test_a_mother_gets_the_text_of_the_day_her_step_is_due(runtime, sandbox, clock, tmp_path):
    folder = tmp_path / "texts"
    write(folder, "p.toml", '[[sop]]\nid = "trial"\nname = "试用回访"\ntarget = "contact"\n'
          'trigger = { type = "contact_added" }\n'
          'steps = [{ id = "ask", minutes = 60, action = "send_text", '
          'texts = ["{name}，试用装用得怎么样？", "{name}，试用装合适吗？"] }]\n')  # fmt: skip
    data = settings_data(runtime)
    data["sop"]["playbooks"] = str(folder)
    reconfigure(runtime, data)
    follow, fields = added(sandbox.state, "小雨")
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    moment = datetime(2026, 11, 22, 11, 0, tzinfo=TZ)
    clock.set(moment)
    tick(runtime, moment)
    worker.run(runtime, burst=True)
    (step,) = playbook.load(folder)[0].steps
    expected = step.text_on(date(2026, 11, 22)).replace("{name}", "小雨")
    sent = [t["text"]["content"] for t in sandbox.state.msg_templates
            if follow.external_userid in t["external_userid"]]  # fmt: skip
    assert sent == [expected]
