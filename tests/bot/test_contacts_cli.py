"""`mombot contacts set`: what an advisor told is checked like what a mother writes (the same
plausibility rules), contradictions are refused, a wrong value can be cleared, and the command
says what changed; bad input changes nothing."""

from datetime import datetime, timedelta

import pytest

from bot import worker
from bot.cli import main
from crm import config
from store import contacts
from tests.support import TZ, added, deliver, settings_data

TODAY = datetime.now(TZ).date()  # the command runs on the real clock


@pytest.fixture
def mother(runtime, sandbox, tmp_path):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    path = config.write(tmp_path / "config.toml", settings_data(runtime))
    return path, follow.external_userid


def contacts_set(mother, *options):
    path, external_userid = mother
    return main(["--config", str(path), "contacts", "set", external_userid, *options])


def dates_of(runtime, external_userid):
    with runtime.context() as ctx:
        her = contacts.get(ctx.session, external_userid)
        return her.due_date, her.baby_birthday, her.trying_to_conceive, her.stage


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--due-date", "2030-01-01"], "--due-date 2030-01-01 is more than 300 days ahead"),
        (["--due-date", str(TODAY - timedelta(days=30))], "is more than 14 days past"),
        (["--birthday", str(TODAY + timedelta(days=1))], "is in the future"),
        (["--birthday", "2015-06-01"], "is more than 6 years back"),
        (["--birthday", "2026-02-30"], "'2026-02-30' is not a date"),
        ([], "nothing to set"),
        (["--due-date", str(TODAY), "--clear-due-date"], "contradict each other"),
        (["--trying", "--due-date", str(TODAY + timedelta(days=100))], "contradict each other"),
    ],
    ids=["due 2030", "due long past", "future birthday", "birthday 2015", "no such day",
         "nothing", "set and clear", "trying and pregnant"],
)  # fmt: skip
def test_bad_input_is_refused_and_changes_nothing(runtime, mother, capsys, options, says):
    assert contacts_set(mother, *options) == 1
    assert says in capsys.readouterr().err
    assert dates_of(runtime, mother[1]) == (None, None, False, None)


def test_it_says_what_changed_and_a_wrong_date_can_be_corrected_or_cleared(runtime, mother, capsys):
    due = TODAY + timedelta(days=280 - 7 * 20)  # 孕20周
    assert contacts_set(mother, "--due-date", str(due)) == 0
    out = capsys.readouterr().out
    assert f"小雨 · {mother[1]}" in out
    assert f"预产期：（无） → {due}" in out and "阶段：（无） → 孕中期" in out
    assert "现在：孕中期 孕20周+0天" in out

    corrected = due + timedelta(days=7)
    assert contacts_set(mother, "--due-date", str(corrected)) == 0
    assert f"预产期：{due} → {corrected}" in capsys.readouterr().out

    assert contacts_set(mother, "--clear-due-date") == 0
    out = capsys.readouterr().out
    assert f"预产期：{corrected} → （无）" in out and "阶段：孕中期 → （无）" in out
    assert dates_of(runtime, mother[1]) == (None, None, False, None)
