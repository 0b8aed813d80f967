"""The command tells operators the truth: --config anywhere, --version, clear one-line errors
instead of tracebacks, `config check --online` against WeCom (the sandbox), `channels sync`
failing loudly on a wrong secret, and `events list` showing partial failures."""

from datetime import timedelta

import pytest

from bot import worker
from bot.cli import main
from crm import config
from store import inbox
from store.db import session
from store.models import InboxStatus
from tests.support import CORP_ID, added, deliver, free_port, settings_data, staff_says


def write_config(runtime, tmp_path, **wecom):
    data = settings_data(runtime)
    data["wecom"] |= wecom
    return str(config.write(tmp_path / "config.toml", data))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --config, --version, argparse -----------------------------------------------------------------


def test_config_goes_before_or_after_the_command(runtime, tmp_path, capsys):
    path = write_config(runtime, tmp_path)
    before = run(capsys, "--config", path, "sop", "list")
    after = run(capsys, "sop", "list", "--config", path)
    assert before == after and before[0] == 0 and "mid-pregnancy" in before[1]
    code, out, _ = run(capsys, "config", "check", "--config", path)
    assert code == 0 and out.startswith(f"{path}: ok")
    # given after the command, it wins over the one before
    code, _, err = run(capsys, "--config", path, "config", "check", "--config", "/nope.toml")
    assert code == 2 and "/nope.toml: config file not found" in err


def test_version(capsys):
    from importlib.metadata import version

    assert run(capsys, "--version") == (0, f"mombot {version('mombot')}\n", "")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["sop", "tick", "--now", "2026-13-01"], "argument --now: '2026-13-01' is not a moment"),
        (["sop", "tick", "--now", "tomorrow"], "is not a moment (ISO 8601, e.g. 2026-11-23T"),
        (["stages", "refresh", "--date", "2026/11/23"], "'2026/11/23' is not a date (YYYY-MM-DD)"),
        (["appchat", "create", "x", "--users", ""], "give at least two member userids"),
        (["appchat", "create", "x", "--users", "zhangsan,,"], "give at least two member userids"),
        (["events", "list", "--limit", "0"], "'0' is not a positive whole number"),
        (["events", "retry", "x"], "invalid int value: 'x'"),
        (["sop", "tick", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: COMMAND"),
        (["events"], "the following arguments are required: SUBCOMMAND"),
    ],
)
def test_bad_arguments_are_one_clear_error(capsys, argv, says):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and says in err and "Traceback" not in err


# errors of the things a command reaches -----------------------------------------------------------


def test_redis_down_is_one_line(runtime, tmp_path, capsys):
    data = settings_data(runtime)
    data["redis"]["url"] = f"redis://127.0.0.1:{free_port()}/0"
    path = str(config.write(tmp_path / "config.toml", data))
    code, _, err = run(capsys, "--config", path, "sop", "tick", "--dry-run")
    assert code == 1
    assert err.startswith("mombot: Redis is not reachable: ") and err.count("\n") == 1


def test_database_down_is_one_line(runtime, tmp_path, capsys):
    data = settings_data(runtime)
    data["database"]["url"] = f"postgresql://mombot@127.0.0.1:{free_port()}/mombot"
    path = str(config.write(tmp_path / "config.toml", data))
    code, _, err = run(capsys, "--config", path, "events", "list")
    assert code == 1
    assert err.startswith("mombot: database: ") and err.count("\n") == 1, err


def test_a_wecom_refusal_is_one_line_in_plain_words(runtime, tmp_path, capsys):
    path = write_config(runtime, tmp_path, secret="a-wrong-app-secret")
    code, out, err = run(capsys, "--config", path, "appchat", "create", "群", "--users", "a,b")
    assert code == 1 and out == ""
    assert err == ("mombot: WeCom gettoken: errcode 40001 (invalid secret): the secret is wrong "
                   "(or was reset in the admin console)\n")  # fmt: skip


# config check --online ----------------------------------------------------------------------------


def lines(out):
    """The online part: (result, what) → detail."""
    part = out.split("online, against ", 1)[1].splitlines()[1:]
    found = {}
    for line in part:
        result, rest = line.strip().split(None, 1)
        what, _, detail = rest.partition("  ")
        found[(result, what.strip())] = detail.strip()
    return found


def test_online_check_passes_with_good_credentials(runtime, sandbox, tmp_path, capsys):
    sandbox.state.kf_accounts["wkBOT0000000001"] = "孕育小助手"
    path = write_config(runtime, tmp_path, kf_open_kfid="wkBOT0000000001")
    code, out, _ = run(capsys, "--config", path, "config", "check", "--online")
    assert code == 0, out
    assert f"online, against {sandbox.url}:" in out
    assert lines(out) == {
        ("ok", "[wecom] secret: access token"): "issued",
        ("ok", "app 1000002 (agent/get)"): "「mombot」",
        ("ok", "customer contact (get_follow_user_list)"):
            "3 member(s) with customer contact (客户联系)",
        ("ok", "微信客服 account wkBOT0000000001 (kf/account/list)"): "「孕育小助手」",
    }  # fmt: skip


def test_online_check_names_each_failure_with_wecoms_errcode(runtime, sandbox, tmp_path, capsys):
    path = write_config(runtime, tmp_path, agent_id=1000099, kf_open_kfid="wkNOSUCH",
                        contact_secret="a-wrong-contact-secret")  # fmt: skip
    code, out, _ = run(capsys, "--config", path, "config", "check", "--online")
    assert code == 1
    assert lines(out) == {
        ("ok", "[wecom] secret: access token"): "issued",
        ("FAILED", "[wecom] contact_secret: access token"):
            "errcode 40001 (invalid secret): the secret is wrong (or was reset in the admin "
            "console)",
        ("FAILED", "app 1000099 (agent/get)"): "errcode 40056 (invalid agentid): no app has "
                                                 "this agent_id",
        ("-", "customer contact (get_follow_user_list)"):
            "not checked: [wecom] contact_secret got no access token",
        ("FAILED", "微信客服 account wkNOSUCH (kf/account/list)"):
            "not among the 0 account(s) this secret can use (check kf_open_kfid, and that the "
            "app may use the account)",
    }  # fmt: skip


def test_online_check_with_a_wrong_app_secret(runtime, sandbox, tmp_path, capsys):
    path = write_config(runtime, tmp_path, secret="a-wrong-app-secret")
    code, out, _ = run(capsys, "--config", path, "config", "check", "--online")
    assert code == 1
    found = lines(out)
    assert found[("FAILED", "[wecom] secret: access token")].startswith("errcode 40001")
    assert found[("-", "app 1000002 (agent/get)")] == (
        "not checked: [wecom] secret got no access token"
    )
    assert found[("-", "微信客服 account")] == "[wecom] kf_open_kfid is not set"
    assert "a-wrong-app-secret" not in out


# channels sync ------------------------------------------------------------------------------------


def test_channels_sync_with_a_wrong_secret_fails_loudly(runtime, sandbox, tmp_path, capsys):
    good = write_config(runtime, tmp_path)
    assert run(capsys, "--config", good, "channels", "sync")[0] == 0
    code, out, _ = run(capsys, "--config", good, "channels", "sync")
    assert code == 0 and "unchanged: xhs-diaper, store-poster" in out
    sandbox.state.invalidate_tokens()  # the secret was reset in the console
    bad = write_config(runtime, tmp_path, secret="the-old-app-secret")
    code, out, err = run(capsys, "--config", bad, "channels", "sync")
    assert code == 1 and "unchanged" not in out
    assert err == (
        "mombot: channels sync: nothing synced: WeCom gettoken with the contact secret ([wecom] "
        "contact_secret, else secret): errcode 40001 (invalid secret): the secret is wrong (or "
        "was reset in the admin console)\n"
    )


# events list --------------------------------------------------------------------------------------


def handled_with(runtime, warning):
    """A callback handled by a worker that kept these warnings."""
    stored = staff_says(runtime, "zhangsan", "你好", msg_id=4242)
    with session(runtime.engine) as s:
        now = runtime.clock.now()
        inbox.claim(s, stored.id, now, timedelta(minutes=5))
        inbox.finish(s, stored.id, InboxStatus.DONE, now, warning)
        s.commit()
    return stored.id


@pytest.mark.parametrize(
    "warning",
    [
        ["welcome not sent: errcode 40096: invalid external userid",
         "not tagged with her channel's tags: WeCom externalcontact/mark_tag: errcode 60111"],
        "welcome not sent: errcode 40096: invalid external userid; "
        "not tagged with her channel's tags: WeCom externalcontact/mark_tag: errcode 60111",
    ],
    ids=["a line each", "joined by semicolons"],
)  # fmt: skip
def test_events_list_shows_partial_failures(runtime, tmp_path, capsys, warning):
    row_id = handled_with(runtime, warning)
    path = write_config(runtime, tmp_path)
    code, out, _ = run(capsys, "--config", path, "events", "list")
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.strip().startswith(str(row_id))]
    assert "done (2 warnings)" in line
    assert "          warning: welcome not sent: errcode 40096: invalid external userid\n" in out
    assert "          warning: not tagged with her channel's tags: WeCom " in out


def test_events_list_with_a_failed_welcome_and_failed_tagging(runtime, sandbox, tmp_path, capsys):
    """What handlers/contact.py and handlers/welcome.py record when both fail for good."""
    state = sandbox.state
    state.fail_next("externalcontact/send_welcome_msg", 40096)
    state.fail_next("externalcontact/mark_tag", 60111)
    _follow, fields = added(state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    path = write_config(runtime, tmp_path)
    code, out, _ = run(capsys, "--config", path, "events", "list")
    assert code == 0
    assert "done (2 warnings)" in out, out
    assert "warning: welcome not sent:" in out and "warning: not tagged with her channel" in out


def test_config_check_still_refuses_a_bad_file_with_exit_2(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(f'[wecom]\ncorp_id = "{CORP_ID}"\n', encoding="utf-8")
    code, _, err = run(capsys, "--config", str(path), "config", "check")
    assert code == 2 and f"{path}: wecom.agent_id: required key is missing" in err


def test_serve_on_a_busy_port_is_one_line(runtime, tmp_path, capsys):
    import socket

    path = write_config(runtime, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "--config", path, "serve", "--port", str(port))
    assert code == 1
    assert err.endswith(f"mombot: serve: port {port} on 127.0.0.1 is already in use\n"), err
    assert "Traceback" not in err


def test_listings_do_not_start_the_embedded_redis(runtime, tmp_path, capsys):
    data = settings_data(runtime)
    data["redis"]["url"] = data["database"]["url"] = ""
    data["data_dir"] = str(tmp_path / "data")
    path = str(config.write(tmp_path / "config.toml", data))
    for command in (["events", "list"], ["channels", "list"], ["groups", "list"],
                    ["sop", "status"]):  # fmt: skip
        assert run(capsys, "--config", path, *command)[0] == 0
    assert (tmp_path / "data" / "mombot.db").exists()
    assert not (tmp_path / "data" / "redis.pid").exists()
