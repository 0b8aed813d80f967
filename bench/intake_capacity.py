"""How many POST /api/leads a second `mombot serve` can take, and at what CPU cost per lead.

A fresh corp (as bench.intake_api: SQLite, then PostgreSQL; `mombot serve` with a process
per core, no worker), then 3,000 leads (10% of them a person already sent) posted by 1, 4
and 16 clients that each send the next as soon as the last is answered. For each: leads a
second, the serve processes' CPU per lead (user + system, from /proc) and the answers' p50
and p99. With one client every lead is a transaction of its own; with more, the leads that
wait together are written together. Baseline in the same run: the 1-client figures.

Run: .venv/bin/python -m bench.intake_capacity
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

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
from bench.intake_api import TOKEN, bodies

LEADS = 3000
CLIENTS = (1, 4, 16)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its children (serve's forked copies)."""
    pids = [pid] + [int(child) for child in
                    Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]  # fmt: skip
    ticks = 0
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def closed_loop(url: str, payloads: list[dict], clients: int, prefix: str) -> list[float]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    waiting = list(enumerate(payloads))
    times: list[float] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while waiting:
            n, payload = waiting.pop(0)
            started = time.perf_counter()
            keyed = {**headers, "Idempotency-Key": f"{prefix}{n}"}
            async with session.post(url, json=payload, headers=keyed) as answer:
                await answer.read()
                assert answer.status in (200, 201), answer.status
            times.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return times


def run(database_url: str | None) -> dict:
    report: dict = {}
    for clients in CLIENTS:
        with sandboxed_corp() as corp:
            port = free_port()
            database = {"url": emptied(database_url)} if database_url else {}
            config = write_config(corp.folder, corp.redis.url, corp.sandbox.url,
                                  server={"port": port}, api={"intake_token": TOKEN},
                                  assign=[{"advisors": ["zhangsan"]}],
                                  database=database)  # fmt: skip
            server = mombot(corp.folder, config, "serve")
            base = f"http://127.0.0.1:{port}"
            try:
                wait_http(f"{base}/healthz")
                cpu, started = cpu_seconds(server.popen.pid), time.perf_counter()
                times = asyncio.run(closed_loop(f"{base}/api/leads", bodies(LEADS), clients,
                                                f"c{clients}-"))  # fmt: skip
                wall = time.perf_counter() - started
                cpu = cpu_seconds(server.popen.pid) - cpu
            finally:
                server.stop()
        times.sort()
        report[f"{clients} client(s)"] = {
            "leads_per_s": round(len(times) / wall),
            "serve_cpu_ms_per_lead": round(cpu / len(times) * 1000, 2),
            "p50_ms": round(times[len(times) // 2] * 1000, 1),
            "p99_ms": round(times[int(0.99 * len(times))] * 1000, 1),
        }
    return report


def main() -> int:
    report: dict = {"measured_at": datetime.now(TZ).isoformat(timespec="seconds")}
    report["sqlite"] = run(None)
    with postgres() as url:
        report["postgresql"] = run(url)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
