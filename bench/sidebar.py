"""The sidebar's JSON over real HTTP with 1,000,000 contacts, 3,000,000 follow-ups and
5,000,000 SOP tasks on SQLite, and the size of the page's first paint.

Seeds the contacts of bench.leads_list, then follow-ups and SOP tasks spread over them, and
runs `mombot serve` (one process) against the WeCom sandbox. An advisor's session cookie is
made the way mombot makes it. Then, one request at a time: GET /api/sidebar/contact for
1,000 of his customers picked at random (her whole profile: history, score, SOP steps,
scripts) and GET /api/sidebar/search with `孕晚期 未签约 7天未跟进` (his leads only), 20
times; the baseline in the same run is GET /healthz, 1,000 times. First paint: the bytes of
the page and its assets as served (and gzip-compressed, as a proxy would send them).

Run: .venv/bin/python -m bench.sidebar
"""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bench.common import TZ, mombot, sandboxed_corp, wait_http, write_config
from bench.leads_list import LEADS, rows, seed_sqlite
from bot import sidebar
from crm import config
from store import db

FOLLOW_UPS, SOP_TASKS = 3_000_000, 5_000_000
PROFILES, SEARCHES, BASELINE = 1_000, 20, 1_000
QUERY = "孕晚期 未签约 7天未跟进"
BATCH = 100_000


def seed_history(database: Path, now: datetime) -> None:
    random.seed(13)
    stamp = now.astimezone(TZ).isoformat(sep=" ")[:19]
    statuses = ["sent"] * 6 + ["pending"] * 2 + ["skipped", "cancelled"]
    with sqlite3.connect(database) as connection:
        for _ in range(0, FOLLOW_UPS, BATCH):
            connection.executemany(
                "INSERT INTO follow_ups (contact_id, userid, note, created_at) VALUES (?, ?, ?, ?)",
                [(random.randint(1, LEADS), "zhangsan", "电话沟通", stamp) for _ in range(BATCH)],
            )
        for start in range(0, SOP_TASKS, BATCH):
            connection.executemany(
                "INSERT INTO sop_tasks (sop_id, step_id, target, trigger_key, trigger_at, due_at,"
                " status, attempts, detail, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?)",
                [("late-pregnancy", f"s{i}", f"c:{random.randint(1, LEADS)}", f"k{start + i}",
                  stamp, stamp, random.choice(statuses), stamp, stamp)
                 for i in range(BATCH)],
            )  # fmt: skip
        connection.execute("ANALYZE")


def timed(client: httpx.Client, url: str, count: int, params=lambda: {},
          expected: tuple[int, ...] = (200,)) -> dict:  # fmt: skip
    took = []
    for _ in range(count):
        started = time.perf_counter()
        answer = client.get(url, params=params())
        took.append((time.perf_counter() - started) * 1000)
        if answer.status_code not in expected:
            raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:200]}")
    took.sort()
    return {"requests": count, "p50_ms": round(statistics.median(took), 1),
            "p99_ms": round(took[int(len(took) * 0.99) - 1], 1),
            "max_ms": round(took[-1], 1)}  # fmt: skip


def first_paint(base: str, client: httpx.Client) -> dict:
    page = client.get(f"{base}/sidebar").content
    assets = [client.get(f"{base}/sidebar/static/{name}").content for name in sidebar.ASSETS]
    every = [page, *assets]
    return {"bytes": sum(map(len, every)),
            "gzip_bytes": sum(len(gzip.compress(body)) for body in every)}  # fmt: skip


def main() -> int:
    now = datetime.now(TZ)
    report: dict = {"measured_at": now.isoformat(timespec="seconds"), "contacts": LEADS,
                    "follow_ups": FOLLOW_UPS, "sop_tasks": SOP_TASKS}  # fmt: skip
    with sandboxed_corp() as corp:
        path = write_config(corp.folder, corp.redis.url, corp.sandbox.url,
                            server={"port": 18431, "processes": 1})  # fmt: skip
        settings = config.load(path)
        engine = db.make_engine(settings.database_url)
        db.upgrade(engine)
        engine.dispose()
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        started = time.perf_counter()
        seed_sqlite(database, rows(now))
        seed_history(database, now - timedelta(days=3))
        report["seed_s"] = round(time.perf_counter() - started, 1)
        with sqlite3.connect(database) as connection:
            his = [
                row[0]
                for row in connection.execute(
                    "SELECT external_userid FROM contacts WHERE owner_userid = 'zhangsan'"
                    " LIMIT 200000"
                )
            ]
        serve = mombot(corp.folder, path, "serve")
        base = "http://127.0.0.1:18431"
        try:
            wait_http(f"{base}/healthz", 60)
            cookie = sidebar.make_session(settings, "zhangsan", time.time())
            random.seed(5)
            with httpx.Client(timeout=30, cookies={sidebar.SESSION: cookie}) as client:

                def one_of_his() -> dict:
                    return {"external_userid": random.choice(his)}

                timed(client, f"{base}/api/sidebar/contact", 20, one_of_his)  # warm-up
                report["profile"] = timed(client, f"{base}/api/sidebar/contact", PROFILES,
                                          one_of_his)  # fmt: skip
                report["search"] = timed(client, f"{base}/api/sidebar/search", SEARCHES,
                                         lambda: {"q": QUERY})  # fmt: skip
                # no worker runs here: /healthz answers 503, as quickly
                report["baseline_healthz"] = timed(client, f"{base}/healthz", BASELINE,
                                                   expected=(200, 503))  # fmt: skip
                report["first_paint"] = first_paint(base, client)
        finally:
            serve.stop()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
