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


@pytest.mark.parametrize(
    ("sop", "message"),
    [
        (
            'trigger = { type = "stage_entered", stage = "孕中期" }\n'
            'steps = [{ id = "coupon", day = 7, action = "send_text", text = "券" }]',
            'sop "x" step "coupon": give either at = "HH:MM" or immediate = true',
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
