"""`mombot stages refresh` over 1,000,000 contacts on SQLite, as a real process.

The contacts carry yesterday's stages (60% pregnant with due dates spread over the next 290
days, 35% with babies up to 3 years old, 5% with nothing known), so today's refresh changes
only those who cross a boundary today, as it does every day. Measured: wall time and peak
memory of the refresh process; baseline in the same run: reading the same rows once
(SELECT id, stage, due_date, baby_birthday, trying_to_conceive, status). Then a worker drains
the queued tag jobs against the WeCom sandbox, and the mark_tag calls are counted.

Run: .venv/bin/python -m bench.stages
"""

from __future__ import annotations

import json
import random
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import ROOT, sandboxed_corp, write_config
from crm import config
from crm.stages import stage_on

CONTACTS = 1_000_000
DAY = date(2026, 11, 22)


def seed(database: Path, rules: config.StageSettings) -> None:
    random.seed(7)
    yesterday = DAY - timedelta(days=1)
    rows = []
    for i in range(CONTACTS):
        kind = random.random()
        due = birthday = None
        if kind < 0.60:
            due = DAY + timedelta(days=random.randint(-10, 280))
        elif kind < 0.95:
            birthday = DAY - timedelta(days=random.randint(0, 3 * 365))
        stage = stage_on(yesterday, due, birthday, False, rules)
        rows.append((f"wm{i:012d}", "zhangsan", "poster", stage, due and due.isoformat(),
                     birthday and birthday.isoformat()))  # fmt: skip
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO contacts (external_userid, name, avatar, gender, unionid, owner_userid,"
            " channel_code, status, stage, due_date, baby_birthday, trying_to_conceive,"
            " created_at, updated_at) VALUES (?, '', '', 0, '', ?, ?, 'new', ?, ?, ?, 0,"
            " '2026-11-01 00:00:00', '2026-11-01 00:00:00')",
            rows,
        )


def read_all(database: Path) -> float:
    started = time.perf_counter()
    with sqlite3.connect(database) as connection:
        for _ in connection.execute(
            "SELECT id, stage, due_date, baby_birthday, trying_to_conceive, status FROM contacts"
        ):
            pass
    return time.perf_counter() - started


def mombot(config_path: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config_path), *args],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    return time.perf_counter() - started, result.stdout


def main() -> None:
    with sandboxed_corp() as corp:
        folder, redis, state, sandbox = corp.folder, corp.redis, corp.state, corp.sandbox
        path = write_config(folder, redis.url, sandbox.url)
        mombot(path, "db", "upgrade")
        database = folder / "data" / "mombot.db"
        print("seeding 1,000,000 contacts…", file=sys.stderr)
        seed(database, config.load(path).stages)
        baseline = read_all(database)
        seconds, output = mombot(path, "stages", "refresh", "--date", DAY.isoformat())
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(output, file=sys.stderr)
        drain_seconds, _ = mombot(path, "worker", "--burst")
        calls = state.calls_to("externalcontact/mark_tag")
        with sqlite3.connect(database) as connection:
            changed = connection.execute(
                "SELECT count(*) FROM stage_events WHERE entered_on = ?", (DAY.isoformat(),)
            ).fetchone()[0]
        print(json.dumps({
            "contacts": CONTACTS,
            "refresh_seconds": round(seconds, 1),
            "refresh_peak_rss_mb": round(peak_mb),
            "baseline_read_all_seconds": round(baseline, 1),
            "ratio_to_read_all": round(seconds / baseline, 1),
            "stage_changes": changed,
            "wecom_mark_tag_calls": len(calls),
            "tag_jobs_drained_seconds": round(drain_seconds, 1),
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
