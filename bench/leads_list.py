"""`mombot leads list` with the query language over 1,000,000 leads, on SQLite and PostgreSQL.

Seeds a corp's database with 1,000,000 contacts (7 stages, 30 cities, the funnel's statuses,
follow-ups over the last 30 days, a phone for half of them), then times the query
`孕晚期 未签约 上海 7天未跟进` two ways: the lookup itself in this process (`bot.leads.find`,
best of 5, after one warm-up), and the real command as a process (`mombot leads list --json`,
best of 3), with `mombot --version` (start-up alone) as the baseline in the same run. Then the
same on PostgreSQL (a cluster started for the run, the rows loaded with COPY and ANALYZEd, as
a running system's statistics would be).

Run: .venv/bin/python -m bench.leads_list
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from bench.common import ROOT, TZ, emptied, postgres
from bot import leads
from crm import config
from crm.stages import STAGES
from store import db

LEADS = 1_000_000
QUERY = "孕晚期 未签约 上海 7天未跟进"
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "苏州", "西安"] + [
    f"城市{i}" for i in range(20)
]
STATUSES = ["new"] * 40 + ["contacted"] * 30 + ["interested"] * 15 + ["signed"] * 10 + ["lost"] * 5


def rows(now: datetime) -> list[tuple]:
    random.seed(11)
    out = []
    for i in range(LEADS):
        added = now - timedelta(days=random.randint(0, 365), minutes=random.randint(0, 1440))
        followed = (now - timedelta(days=random.randint(0, 30))) if random.random() < 0.6 else None
        out.append((
            f"wm{i:012d}", f"妈妈{i}", f"13{random.randint(0, 999999999):09d}"
            if i % 2 else "", random.choice(CITIES), random.choice(["zhangsan", "lisi"]),
            random.choice(["poster", "xhs", "live"]), random.choice(STATUSES),
            random.choice(STAGES), added.isoformat(sep=" ")[:19],
            followed.isoformat(sep=" ")[:19] if followed else None,
        ))  # fmt: skip
    return out


COLUMNS = ("external_userid, name, phone, city, owner_userid, channel_code, status, stage, "
           "added_at, last_followup_at")  # fmt: skip
CONSTANT = ("avatar, gender, unionid, source, trying_to_conceive, opted_out, created_at, "
            "updated_at")  # fmt: skip


def seed_sqlite(database: Path, data: list[tuple]) -> None:
    with sqlite3.connect(database) as connection:
        connection.executemany(
            f"INSERT INTO contacts ({COLUMNS}, {CONSTANT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " '', 0, '', '', 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            data,
        )
        connection.execute("ANALYZE")


def seed_postgres(url: str, data: list[tuple]) -> None:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY contacts ({COLUMNS}, {CONSTANT}) FROM STDIN") as copy,
        ):
            for row in data:
                copy.write_row((*row, "", 0, "", "", False, False, "2026-01-01 00:00:00+00",
                                "2026-01-01 00:00:00+00"))  # fmt: skip
        connection.execute("ANALYZE contacts")


def measure(settings_path: Path, now: datetime) -> dict:
    settings = config.load(settings_path)
    engine = db.make_engine(settings.database_url)
    leads.find(settings, engine, now, QUERY)  # warm-up: the page cache, as a running system has
    lookups = []
    for _ in range(5):
        started = time.perf_counter()
        found, total = leads.find(settings, engine, now, QUERY)
        lookups.append(time.perf_counter() - started)
    engine.dispose()
    command = [sys.executable, "-m", "bot.cli", "--config", str(settings_path)]

    def timed(*args: str) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([*command, *args], cwd=ROOT, check=True, capture_output=True)
            best = min(best, time.perf_counter() - started)
        return best

    return {
        "matching": total,
        "shown": len(found),
        "lookup_best_of_5_s": round(min(lookups), 3),
        "lookup_worst_of_5_s": round(max(lookups), 3),
        "command_best_of_3_s": round(timed("leads", "list", "--json", *QUERY.split()), 3),
        "baseline_version_best_of_3_s": round(timed("--version"), 3),
    }


def corp(folder: Path, database: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return config.write(folder / "config.toml", {
        "data_dir": str(folder / "data"),
        "wecom": {"corp_id": "wwbench", "agent_id": 1, "secret": "s" * 16, "token": "t" * 8,
                  "encoding_aes_key": "a" * 43},
        "database": database,
        "logging": {"level": "WARNING"},
    })  # fmt: skip


def main() -> int:
    now = datetime.now(TZ)
    folder = Path(tempfile.mkdtemp(prefix="mombot-bench-leads-"))
    data = rows(now)
    report: dict = {"measured_at": now.isoformat(timespec="seconds"), "leads": LEADS,
                    "query": QUERY}  # fmt: skip
    path = corp(folder / "sqlite", {})
    settings = config.load(path)
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    engine.dispose()
    started = time.perf_counter()
    seed_sqlite(Path(settings.database_url.removeprefix("sqlite:///")), data)
    report["sqlite"] = {"seed_s": round(time.perf_counter() - started, 1), **measure(path, now)}
    with postgres() as url:
        path = corp(folder / "pg", {"url": emptied(url)})
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        started = time.perf_counter()
        seed_postgres(url, data)
        report["postgresql"] = {"seed_s": round(time.perf_counter() - started, 1),
                                **measure(path, now)}  # fmt: skip
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
