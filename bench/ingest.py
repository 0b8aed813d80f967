"""Callback ingest: mombot serve against a bare aiohttp handler, measured in the same run.

1. Throughput: wrk (1 thread, 128 connections, 10 s; three interleaved rounds, medians)
   replaying distinct signed, encrypted
   add_external_contact callbacks. Each request to mombot is verified, decrypted, parsed,
   deduplicated, committed to SQLite (WAL) and queued on Redis before the 200 goes out.
   Both servers run as one process, and as one process per core (SO_REUSEPORT; mombot's
   default, [server] processes = 0).
2. Latency at a fixed 500 requests/s (open loop, 20 s; latency counted from the moment each
   request was due, so a stall is not hidden): p50, p99, max.

Run: .venv/bin/python -m bench.ingest   (needs wrk: apt-get install wrk)
"""

from __future__ import annotations

import asyncio
import json
import os
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
ROUNDS = 3
CONNECTIONS = 128
RATE = 500
RATE_SECONDS = 20
CORES = os.cpu_count() or 1


def wrk(port: int, requests_file: Path) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency",
         "-s", str(HERE / "requests.lua"), f"http://127.0.0.1:{port}/wecom/callback",
         "--", str(requests_file)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return {
        "rps": round(rps),
        "p99_ms": round(float(p99.group(1)) * scale, 2),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


async def fixed_rate(port: int, requests: list[tuple[str, bytes]]) -> dict:
    url = f"http://127.0.0.1:{port}/wecom/callback"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
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


def stored_rows(folder: Path) -> int:
    with sqlite3.connect(folder / "data" / "mombot.db") as connection:
        return connection.execute("SELECT count(*) FROM inbound_events").fetchone()[0]


def measure_mombot(processes: int, requests_file: Path, latency_set) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="mombot-bench-"))
    redis = RedisServer(folder)
    redis.start()
    port = free_port()
    config = write_config(folder, redis.url, server={"port": port, "processes": processes})
    serve = mombot(folder, config, "serve")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        if latency_set:
            return {"at_500_rps": asyncio.run(fixed_rate(port, latency_set))}
        result = {"throughput": wrk(port, requests_file)}
        result["throughput"]["rows_stored"] = stored_rows(folder)
        return result
    finally:
        serve.stop()
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


def measure_bare(processes: int, requests_file: Path, latency_set) -> dict:
    port = free_port()
    bare = Process(
        [sys.executable, str(HERE / "bare_server.py"), str(port), str(processes)],
        requests_file.parent / "bare.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        if latency_set:
            return {"at_500_rps": asyncio.run(fixed_rate(port, latency_set))}
        return {"throughput": wrk(port, requests_file)}
    finally:
        bare.stop()


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("bench needs wrk: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="mombot-bench-"))
    try:
        print("signing callbacks…", file=sys.stderr)
        requests_file = folder / "requests.tsv"
        requests_file.write_text(
            "".join(f"{q}\t{b.decode()}\n" for q, b in signed_add_events(80_000, "t"))
        )
        latency_set = signed_add_events(RATE * RATE_SECONDS, "l")
        configs = (
            ("bare_1_process", measure_bare, 1),
            (f"bare_{CORES}_processes", measure_bare, CORES),
            ("mombot_1_process", measure_mombot, 1),
            (f"mombot_{CORES}_processes_default", measure_mombot, CORES),
        )
        runs: dict[str, list[int]] = {name: [] for name, _, _ in configs}
        for round_number in range(ROUNDS):  # interleaved, so the machine's moods hit all alike
            for name, measure, processes in configs:
                print(f"round {round_number + 1}: {name}…", file=sys.stderr)
                runs[name].append(measure(processes, requests_file, None)["throughput"]["rps"])
        results: dict = {name: {"rps_runs": r, "rps_median": statistics.median(r)}
                         for name, r in runs.items()}  # fmt: skip
        for name, measure, processes in (configs[0], configs[3]):
            print(f"{RATE}/s: {name}…", file=sys.stderr)
            results[name]["at_500_rps"] = measure(processes, requests_file, latency_set)[
                "at_500_rps"
            ]

        def rps(name: str) -> float:
            return results[name]["rps_median"]

        results["ratios_of_medians"] = {
            "mombot_default_vs_bare_1": round(
                rps(f"mombot_{CORES}_processes_default") / rps("bare_1_process"), 3
            ),
            "mombot_1_vs_bare_1": round(rps("mombot_1_process") / rps("bare_1_process"), 3),
            f"mombot_{CORES}_vs_bare_{CORES}": round(
                rps(f"mombot_{CORES}_processes_default") / rps(f"bare_{CORES}_processes"), 3
            ),
        }
        print(json.dumps(results, indent=2, ensure_ascii=False))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
