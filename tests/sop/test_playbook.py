"""SOP playbooks: the default one is complete and valid; mistakes are named precisely."""

from pathlib import Path

import pytest

from bot.cli import main
from sop import playbook

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
    from crm.config import FollowUpSettings

    sla = playbook.followup_sla(FollowUpSettings(remind_after_minutes=60,
                                                 escalate_after_minutes=480))  # fmt: skip
    assert [(s.id, s.minutes, s.action) for s in sla.steps] == [
        ("remind", 60, "advisor_task"), ("escalate", 480, "escalate")]  # fmt: skip
    with pytest.raises(ValueError, match="escalate_after_minutes must be more"):
        FollowUpSettings(remind_after_minutes=60, escalate_after_minutes=60)


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
