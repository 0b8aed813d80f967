"""`mombot parse-date --expect` gives the bot's answer for a bare date: what she was asked for
decides whether 3月15号 is a due date (ahead) or a birthday (behind)."""

import json

import pytest

from bot.cli import main


@pytest.mark.parametrize(
    ("expect", "kind", "day"),
    [([], "none", None), (["--expect", "due_date"], "due_date", "2027-03-15"),
     (["--expect", "birthday"], "birthday", "2026-03-15")],
)  # fmt: skip
def test_the_expected_kind_decides_a_bare_date(capsys, expect, kind, day):
    assert main(["parse-date", "--today", "2026-11-22", *expect, "3月15号"]) == 0
    assert json.loads(capsys.readouterr().out) == {"kind": kind, "date": day, "approximate": False}


def test_an_unknown_kind_is_refused(capsys):
    assert main(["parse-date", "--expect", "wedding", "3月15号"]) == 2
    assert "invalid choice" in capsys.readouterr().err
