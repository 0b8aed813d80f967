"""POST /api/leads at 200 requests a second: the latency partners' systems see.

A fresh corp (SQLite, a real Redis, the WeCom sandbox, `mombot serve` with a process per core
and one `mombot worker` telling the advisors). A sender posts 6,000 leads at a steady 200 a
second for 30 s (10% of them a person already sent, with another city: merged), each with an
Idempotency-Key, and times every answer; the worker meanwhile tells the advisors of their new
leads (a digest every 10 s each, their follow-up SLAs planned). Baselines in the same run:
GET /healthz at the same pace (the server's own floor: a request that touches the database and
Redis), and the same stream with no worker running (`mombot status` in its place), which shows
what the worker's work on the same two cores costs the intake.

On SQLite, then on PostgreSQL. Target: p99 under 50 ms.
Run: .venv/bin/python -m bench.intake_api
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from datetime import datetime

import aiohttp

from bench.common import (
    TZ,
    emptied,
    free_port,
    mombot,
    postgres,
    sandboxed_corp,
    wait_http,
    write_config,
)

RATE, SECONDS = 200, 30
TOKEN = "bench-intake-token-0123456789"
CITIES = ["上海", "北京", "广州", "深圳", "杭州"]


def bodies(count: int) -> list[dict]:
    random.seed(5)
    out: list[dict] = []
    for i in range(count):
        if out and random.random() < 0.1:
            again = dict(random.choice(out))
            out.append({**again, "city": random.choice(CITIES)})
        else:
            out.append({"name": f"妈妈{i}", "phone": f"13{i:09d}", "channel": "web-form",
                        "city": random.choice(CITIES), "due_date": "预产期明年5月",
                        "source": "官网表单"})  # fmt: skip
    return out


async def paced(url: str, method: str, payloads: list[dict | None]) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def one(session: aiohttp.ClientSession, n: int, payload: dict | None) -> None:
        started = time.perf_counter()
        keyed = {**headers, "Idempotency-Key": f"b{n}"}
        async with session.request(method, url, json=payload, headers=keyed) as answer:
            await answer.read()
        results.append((answer.status, time.perf_counter() - started))

    async with aiohttp.ClientSession() as session:
        tasks = []
        start = time.perf_counter()
        for n, payload in enumerate(payloads):
            delay = start + n / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, n, payload)))
        await asyncio.gather(*tasks)
    return results


def summary(results: list[tuple[int, float]]) -> dict:
    times = sorted(t for _, t in results)
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def pct(p: float) -> float:
        return round(times[min(len(times) - 1, int(p * len(times)))] * 1000, 1)

    return {"requests": len(results), "statuses": statuses, "p50_ms": pct(0.5),
            "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(times[-1] * 1000, 1),
            "over_50ms": sum(1 for t in times if t > 0.05)}  # fmt: skip


def run(database_url: str | None, with_worker: bool = True) -> dict:
    with sandboxed_corp() as corp:
        corp.state.users["lisi"] = "李顾问"
        port = free_port()
        database = {"url": database_url} if database_url else {}
        config = write_config(corp.folder, corp.redis.url, corp.sandbox.url,
                              server={"port": port}, api={"intake_token": TOKEN},
                              assign=[{"advisors": ["zhangsan", "lisi"]}],
                              database=database)  # fmt: skip
        server = mombot(corp.folder, config, "serve")
        worker = mombot(corp.folder, config, "worker" if with_worker else "status")
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            base = f"http://127.0.0.1:{port}"
            health = asyncio.run(paced(f"{base}/healthz", "GET", [None] * (RATE * 5)))
            leads = asyncio.run(paced(f"{base}/api/leads", "POST", bodies(RATE * SECONDS)))
        finally:
            server.stop()
            worker.stop()
    return {"intake": summary(leads), "baseline_healthz": summary(health)}


def main() -> int:
    report: dict = {"measured_at": datetime.now(TZ).isoformat(timespec="seconds"), "rate": RATE}
    report["sqlite"] = run(None)
    report["sqlite_without_worker"] = run(None, with_worker=False)
    with postgres() as url:
        report["postgresql"] = run(emptied(url))
        report["postgresql_without_worker"] = run(emptied(url), with_worker=False)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    met = all(report[name]["intake"]["p99_ms"] < 50 for name in ("sqlite", "postgresql"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
