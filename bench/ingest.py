"""Callback ingest: mombot serve against a bare aiohttp handler, measured in the same run.

1. Throughput: wrk (1 thread, 32 connections, 10 s) replaying distinct signed, encrypted
   add_external_contact callbacks; each request to mombot is verified, decrypted, parsed,
   deduplicated, committed to SQLite (WAL, synchronous=FULL) and queued on Redis.
2. Latency at a fixed 500 requests/s (open loop, 20 s; latency counted from the moment each
   request was due, so a stall is not hidden): p50, p99, max.

Run: .venv/bin/python -m bench.ingest   (needs wrk: apt-get install wrk)
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import (
    Process,
    RedisServer,
    free_port,
    mombot,
    signed_add_events,
    wait_http,
    write_config,
)

HERE = Path(__file__).resolve().parent
DURATION = 10
RATE = 500
RATE_SECONDS = 20


def wrk(port: int, requests_file: Path) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c32",
            f"-d{DURATION}s",
            "--latency",
            "-s",
            str(HERE / "requests.lua"),
            f"http://127.0.0.1:{port}/wecom/callback",
            "--",
            str(requests_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


async def fixed_rate(port: int, requests: list[tuple[str, bytes]]) -> dict:
    url = f"http://127.0.0.1:{port}/wecom/callback"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter() + 0.2

        async def one(i: int, query: str, body: bytes) -> None:
            due = start + i / RATE
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            async with session.post(f"{url}?{query}", data=body) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append((time.perf_counter() - due) * 1000)

        await asyncio.gather(*(one(i, q, b) for i, (q, b) in enumerate(requests)))
    latencies.sort()
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "max_ms": round(latencies[-1], 2),
        "statuses": statuses,
    }


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("bench needs wrk: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="mombot-bench-"))
    redis = RedisServer(folder)
    redis.start()
    mombot_port, bare_port = free_port(), free_port()
    config = write_config(folder, redis.url, mombot_port)
    serve = mombot(folder, config, "serve")
    bare = Process(
        [sys.executable, str(HERE / "bare_server.py"), str(bare_port)], folder / "bare.log"
    )
    try:
        wait_http(f"http://127.0.0.1:{mombot_port}/healthz")
        wait_http(f"http://127.0.0.1:{bare_port}/")
        print("signing callbacks…", file=sys.stderr)
        throughput_set = signed_add_events(60_000, "t")
        requests_file = folder / "requests.tsv"
        requests_file.write_text("".join(f"{q}\t{b.decode()}\n" for q, b in throughput_set))
        latency_set = signed_add_events(RATE * RATE_SECONDS, "l")

        results = {}
        for name, port in (("bare", bare_port), ("mombot", mombot_port)):
            print(f"wrk → {name}…", file=sys.stderr)
            results[name] = {"throughput": wrk(port, requests_file)}
        for name, port in (("bare", bare_port), ("mombot", mombot_port)):
            print(f"{RATE}/s → {name}…", file=sys.stderr)
            results[name]["at_500_rps"] = asyncio.run(fixed_rate(port, latency_set))

        stored = (
            sqlite3.connect(folder / "data" / "mombot.db")
            .execute("SELECT count(*) FROM inbound_events")
            .fetchone()[0]
        )
        results["mombot"]["rows_stored"] = stored
        results["ratio_rps"] = round(
            results["mombot"]["throughput"]["rps"] / results["bare"]["throughput"]["rps"], 3
        )
        print(json.dumps(results, indent=2, ensure_ascii=False))
    finally:
        serve.stop()
        bare.stop()
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
