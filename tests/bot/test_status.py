"""`mombot status`: queues, workers, the oldest unfinished callback, failures and the next SOP
task on one screen; Redis down is said, and the database part is shown all the same."""

from datetime import timedelta

from bot import heartbeat, redis_conn, status
from bot.cli import main
from crm import config
from crm.context import BULK
from store import inbox
from store.db import session
from tests.support import added, deliver, free_port, settings_data


def noop(ctx):  # a job for the queue table
    return None


def row(out: str, first: str) -> str:
    (line,) = [line for line in out.splitlines() if line.split("  ")[0].strip() == first]
    return line


def test_everything_an_operator_needs_to_see(runtime, sandbox, clock, redis):
    now = clock.now()
    _follow, fields = added(sandbox.state)
    waiting = deliver(runtime, fields, try_redis=False)  # received, never queued
    failing = deliver(runtime, fields | {"CreateTime": fields["CreateTime"] + 1}, try_redis=False)
    with session(runtime.engine) as s:
        inbox.claim(s, failing.id, now, timedelta(minutes=5))
        inbox.retry_later(s, failing.id, "RuntimeError: boom", None, now)
    runtime.enqueue(BULK, noop)
    runtime.enqueue(BULK, noop)
    started = (now - timedelta(hours=1)).isoformat()
    heartbeat.beat(redis, heartbeat.Beat("host-a", 4242, started, 16, 3, now.isoformat()))
    redis.set(f"mombot:sop:tick:{now:%Y%m%d%H%M}", 1)
    clock.advance(timedelta(seconds=90))
    out = "\n".join(status.report(runtime.settings, clock.now()))

    assert out.startswith("mombot status at 2026-11-22T10:01:30+08:00")
    assert row(out, "redis") == f"redis     external, redis://127.0.0.1:{_port(runtime)}, reachable"
    assert row(out, "bulk").split() == ["bulk", "2", "0", "0", "0"]
    assert row(out, "realtime").split() == ["realtime", "0", "0", "0", "0"]
    assert row(out, "host-a").split() == [
        "host-a", "4242", "2026-11-22T09:00:00+08:00", "3/16", "1", "min", "ago"]  # fmt: skip
    assert row(out, "inbox").split(None, 1)[1] == "received 1, failed 1"
    assert row(out, "oldest unfinished").endswith(
        f"#{waiting.id} received, in since 2026-11-22T10:00:00+08:00 (1 min ago)"
    )
    assert "callbacks 1 (mombot events list --status failed), rq jobs 0, SOP tasks 0" in out
    assert "last tick 2026-11-22T10:00+08:00 (1 min ago)" in out
    assert row(out, "SOP").split(None, 1)[1].startswith("0 pending, none due; last tick")


def _port(runtime):
    return runtime.settings.redis.url.split(":")[2].split("/")[0]


def test_the_next_sop_task_and_no_worker(runtime, sandbox, clock):
    from bot import worker

    _follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)  # she is planned: the follow-up reminder in 2 hours
    out = "\n".join(status.report(runtime.settings, clock.now()))
    assert "none alive: nothing handles callbacks or SOP tasks now" in out
    assert "next due 2026-11-22T12:00:00+08:00 (in 2 h)" in out, out
    assert "oldest unfinished  none" in out
    assert "last tick: none in the last 3 minutes" in out


def test_redis_down_is_said_and_the_database_is_still_shown(runtime, tmp_path, capsys):
    data = settings_data(runtime)
    data["redis"]["url"] = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    path = config.write(tmp_path / "config.toml", data)
    assert main(["status", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "NOT REACHABLE" in out and "queue and worker figures unavailable" in out
    assert "s3cret" not in out
    assert "inbox" in out and "rq jobs ?" in out and "SOP tasks 0" in out


def test_embedded_redis_not_running_is_not_started(runtime, tmp_path, capsys):
    data = settings_data(runtime)
    data["redis"]["url"] = data["database"]["url"] = ""
    data["data_dir"] = str(tmp_path / "data")
    path = config.write(tmp_path / "config.toml", data)
    assert main(["--config", str(path), "status"]) == 0
    out = capsys.readouterr().out
    assert "embedded, not running (`mombot worker` or `mombot serve` starts it" in out
    database = tmp_path / "data" / "mombot.db"
    assert f"none yet at {database} (`mombot db upgrade` makes it)" in out
    assert not (tmp_path / "data").exists()  # nothing started, nothing made


def test_embedded_redis_running_with_its_pid(runtime, tmp_path, capsys):
    data = settings_data(runtime)
    data["redis"]["url"] = ""
    data["data_dir"] = str(tmp_path / "data")
    path = config.write(tmp_path / "config.toml", data)
    settings = config.load(path)
    redis_conn.ensure_embedded(settings.data_path).close()
    try:
        assert main(["--config", str(path), "status"]) == 0
        pid = (tmp_path / "data" / "redis.pid").read_text().strip()
        assert f"embedded, running (pid {pid}, in {tmp_path / 'data'})" in capsys.readouterr().out
    finally:
        redis_conn.stop_embedded(settings.data_path)


def test_database_unreadable_is_said(runtime, tmp_path, capsys):
    data = settings_data(runtime)
    data["database"]["url"] = f"postgresql://mombot:pw@127.0.0.1:{free_port()}/mombot"
    path = config.write(tmp_path / "config.toml", data)
    assert main(["--config", str(path), "status"]) == 0
    out = capsys.readouterr().out
    assert "database  postgresql+psycopg://mombot:***@127.0.0.1" in out
    assert "NOT READABLE" in out and "bulk" in out
