"""The SOP engine at scale, on SQLite:

1. plan: 100,000 contacts entering 孕中期 at once (the stage refresh's planning step; the
   default playbook gives each 3 tasks). Baseline in the same run: inserting the same rows
   with a plain executemany.
2. tick: one tick with 1,000,000 pending tasks of which 500 are due (what it must find fast).
3. deliver: 3,000 due tasks (1:1 sends through add_msg_template) executed by two
   `mombot worker --burst` processes against the WeCom sandbox; sends per second.

Run: .venv/bin/python -m bench.sop
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.common import ROOT, TZ, sandboxed_corp, write_config
from bot import runtime as runtime_module
from crm import config
from crm.clock import ManualClock
from sop import planner, playbook
from sop.tick import tick

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)


def seed_contacts(database: Path, count: int) -> None:
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO contacts (external_userid, name, avatar, gender, unionid, owner_userid,"
            " channel_code, status, stage, trying_to_conceive, opted_out, created_at, updated_at)"
            " VALUES (?, '妈妈', '', 2, '', 'zhangsan', 'poster', 'new', '孕中期', 0, 0,"
            " '2026-11-01 00:00:00', '2026-11-01 00:00:00')",
            [(f"wm{i:012d}",) for i in range(count)],
        )


def main() -> None:
    with sandboxed_corp() as corp:
        folder, redis, state, sandbox = corp.folder, corp.redis, corp.state, corp.sandbox
        path = write_config(folder, redis.url, sandbox.url, sop={"daily_cap": 20})
        settings = config.load(path)
        runtime = runtime_module.build(settings, ManualClock(NOW))
        database = folder / "data" / "mombot.db"
        sops = playbook.configured(settings)
        result: dict = {}

        seed_contacts(database, 100_000)
        episode = "due=2027-04-15"
        entered = [(i, "孕中期", NOW.date(), episode) for i in range(1, 100_001)]
        started = time.perf_counter()
        with runtime.engine.begin() as connection:
            planned = planner.plan_stage_entered(connection, sops, entered, TZ, NOW)
        result["plan_100k_contacts_s"] = round(time.perf_counter() - started, 2)
        result["tasks_planned"] = planned
        started = time.perf_counter()
        with sqlite3.connect(folder / "baseline.db") as connection:
            connection.execute("CREATE TABLE t (a, b, c, d, e, f)")
            rows = [(i, "s", "p", "c", "k", "d") for i in range(planned)]
            connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", rows)
        result["baseline_plain_insert_s"] = round(time.perf_counter() - started, 2)

        with sqlite3.connect(database) as connection:  # fill up to 1,000,000 pending tasks
            connection.executemany(
                "INSERT INTO sop_tasks (sop_id, step_id, target, trigger_key, due_at, status,"
                " attempts, detail, created_at, updated_at) VALUES ('bench', 's', ?, 'k',"
                " '2027-01-01 00:00:00', 'pending', 0, '', '2026-11-22 00:00:00',"
                " '2026-11-22 00:00:00')",
                [(f"c:{i}",) for i in range(1_000_000 - planned)],
            )
            connection.execute(
                "UPDATE sop_tasks SET due_at = '2026-11-21 00:00:00' WHERE id IN"
                " (SELECT id FROM sop_tasks WHERE sop_id = 'bench' LIMIT 500)"
            )
            pending_sql = "SELECT count(*) FROM sop_tasks WHERE status = 'pending'"
            pending = connection.execute(pending_sql).fetchone()[0]
        started = time.perf_counter()
        with runtime.context() as ctx:
            report = tick(ctx, NOW, dry_run=True)
        result["tick_dry_run_1m_pending_s"] = round(time.perf_counter() - started, 3)
        result["pending_tasks"] = pending
        result["due_found"] = len(report.due)

        with sqlite3.connect(database) as connection:  # 3,000 sends due now
            connection.execute("UPDATE sop_tasks SET due_at = '2027-01-01 00:00:00'")
            connection.execute(
                "UPDATE sop_tasks SET due_at = '2026-11-22 00:00:00' WHERE id IN (SELECT id FROM"
                " sop_tasks WHERE sop_id = 'mid-pregnancy' AND step_id = 'nutrition' LIMIT 3000)"
            )
        started = time.perf_counter()
        with runtime.context() as ctx:
            queued = tick(ctx, NOW).queued
        result["tick_queueing_3000_s"] = round(time.perf_counter() - started, 3)
        state.users["zhangsan"] = "张顾问"
        started = time.perf_counter()
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "--config", str(path), "worker", "--burst"],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        for process in workers:
            process.wait(600)
        seconds = time.perf_counter() - started
        sends = len(state.msg_templates)
        moments = sorted(t["at"] for t in state.msg_templates)
        sending = (moments[-1] - moments[0]).total_seconds()
        result.update({
            "sends_queued": queued, "sends_delivered": sends,
            "two_workers_wall_s": round(seconds, 1),
            "sends_per_s_including_worker_startup": round(sends / seconds),
            "sends_per_s_first_to_last_send": round(sends / sending),
        })  # fmt: skip
        with sqlite3.connect(database) as connection:
            result["tasks_sent"] = connection.execute(
                "SELECT count(*) FROM sop_tasks WHERE status = 'sent'").fetchone()[0]  # fmt: skip
        runtime.close()
        print(json.dumps(result, indent=2))
        if result["tasks_sent"] != queued:  # a figure for fewer sends than asked is no figure
            sys.exit(f"only {result['tasks_sent']} of {queued} tasks were sent")


if __name__ == "__main__":
    main()
