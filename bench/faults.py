"""Acknowledgements under faults: `mombot serve` (one process per core, SQLite, a real Redis).

(a) Redis stalled: callbacks at 100/s for 25 s; from 5 s to 20 s the redis-server is
    SIGSTOPped. Every callback must be acknowledged (200) within 1 s, and stored; afterwards
    the relay queues what waited.
(b) Unsigned load: legitimate callbacks at 200/s for 15 s, alone and then alongside 50/s
    requests with a bad signature and a ~1 MB body (sent by another process). The
    legitimate p99 must stay under 50 ms.

Latency is counted from the moment each request was due (open loop), so a stall is not
hidden. Prints a table; exits 1 if a target is missed.

Run: .venv/bin/python -m bench.faults
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.common import RedisServer, free_port, mombot, signed_add_events, wait_http, write_config
from bot import relay
from bot import runtime as runtime_module
from crm import config

STALL_RATE, STALL_BEFORE, STALL_SECONDS, STALL_AFTER = 100, 5.0, 15.0, 5.0
STALL_TARGET_MS = 1000.0
LEGIT_RATE, LEGIT_SECONDS = 200, 15.0
UNSIGNED_RATE, UNSIGNED_BODY = 50, 1_000_000
P99_TARGET_MS = 50.0
PROCESSES = os.cpu_count() or 1


@dataclass
class Sent:
    due: float  # seconds after the start
    latency_ms: float
    status: int


async def open_loop(
    port: int, requests: list[tuple[str, bytes]], rate: float, on_time=None
) -> list[Sent]:
    """POST the requests at `rate` per second; on_time(seconds) runs alongside (its own task)."""
    url = f"http://127.0.0.1:{port}/wecom/callback"
    sent: list[Sent] = []
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter() + 0.2

        async def one(i: int, query: str, body: bytes) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                async with session.post(f"{url}?{query}", data=body) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError):
                status = 0
            sent.append(Sent(due - start, (time.perf_counter() - due) * 1000, status))

        tasks = [one(i, q, b) for i, (q, b) in enumerate(requests)]
        if on_time:
            tasks.append(on_time(start))
        await asyncio.gather(*tasks)
    return sent


def stats(sent: list[Sent]) -> dict:
    latencies = sorted(s.latency_ms for s in sent)
    return {
        "requests": len(sent),
        "non_200": sum(s.status != 200 for s in sent),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "max_ms": latencies[-1],
    }


def status_counts(folder: Path) -> dict[str, int]:
    with sqlite3.connect(folder / "data" / "mombot.db") as connection:
        rows = connection.execute("SELECT status, count(*) FROM inbound_events GROUP BY status")
        return dict(rows.fetchall())


class Serve:
    """A Redis of its own and `mombot serve` on it, in a scratch folder."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mombot-bench-"))
        self.redis = RedisServer(self.folder)
        self.redis.start()
        self.port = free_port()
        self.config = write_config(
            self.folder, self.redis.url, server={"port": self.port, "processes": PROCESSES}
        )
        self.serve = mombot(self.folder, self.config, "serve")
        wait_http(f"http://127.0.0.1:{self.port}/healthz")

    def close(self) -> None:
        self.serve.stop()
        if self.redis.process and self.redis.process.poll() is None:
            self.redis.process.send_signal(signal.SIGCONT)
        self.redis.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def redis_stalled() -> tuple[dict, list[str]]:
    total = STALL_BEFORE + STALL_SECONDS + STALL_AFTER
    requests = signed_add_events(int(STALL_RATE * total), "s")
    serve = Serve()
    try:
        redis_process = serve.redis.process

        async def stall(start: float) -> None:
            await asyncio.sleep(max(0.0, start + STALL_BEFORE - time.perf_counter()))
            redis_process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(STALL_SECONDS)
            redis_process.send_signal(signal.SIGCONT)

        sent = asyncio.run(open_loop(serve.port, requests, STALL_RATE, stall))
        during = [s for s in sent if STALL_BEFORE <= s.due < STALL_BEFORE + STALL_SECONDS]
        stored = status_counts(serve.folder)
        runtime = runtime_module.build(config.load(serve.config), migrate=False)
        relayed = 0
        try:
            while passed := relay.relay_once(runtime):  # 500 rows a pass
                relayed += passed
        finally:
            runtime.close()
        after_relay = status_counts(serve.folder)
    finally:
        serve.close()
    result = {
        "all": stats(sent),
        "during_stall": stats(during),
        "stored": stored,
        "relayed": relayed,
        "after_relay": after_relay,
    }
    misses = []
    if result["all"]["max_ms"] >= STALL_TARGET_MS:
        misses.append(f"(a) slowest acknowledgement {result['all']['max_ms']:.0f} ms ≥ 1 s")
    if result["all"]["non_200"]:
        misses.append(f"(a) {result['all']['non_200']} callback(s) not acknowledged")
    if sum(stored.values()) != len(requests) or after_relay != {"queued": len(requests)}:
        misses.append(f"(a) rows: stored {stored}, after the relay {after_relay}")
    return result, misses


def _unsigned_flood(port: int, seconds: float, ready, statuses) -> None:
    """Another process: bad signature, ~1 MB body, fresh timestamp (so the body is read)."""
    body = (b"<xml><ToUserName>x</ToUserName><Encrypt>" + b"A" * UNSIGNED_BODY
            + b"</Encrypt></xml>")  # fmt: skip

    async def run() -> list[Sent]:
        count = int(UNSIGNED_RATE * seconds)
        query = f"msg_signature={'0' * 40}&timestamp={int(time.time())}&nonce=n"
        ready.set()
        return await open_loop(port, [(query, body)] * count, UNSIGNED_RATE)

    sent = asyncio.run(run())
    counts: dict[int, int] = {}
    for s in sent:
        counts[s.status] = counts.get(s.status, 0) + 1
    statuses.put(counts)


def unsigned_load() -> tuple[dict, list[str]]:
    alone_requests = signed_add_events(int(LEGIT_RATE * LEGIT_SECONDS), "a")
    loaded_requests = signed_add_events(int(LEGIT_RATE * LEGIT_SECONDS), "b")
    serve = Serve()
    try:
        alone = asyncio.run(open_loop(serve.port, alone_requests, LEGIT_RATE))
        context = multiprocessing.get_context("spawn")
        ready, statuses = context.Event(), context.Queue()
        flood = context.Process(
            target=_unsigned_flood, args=(serve.port, LEGIT_SECONDS + 2, ready, statuses)
        )
        flood.start()
        ready.wait(30)
        time.sleep(1)  # the flood is under way before the measured part starts
        loaded = asyncio.run(open_loop(serve.port, loaded_requests, LEGIT_RATE))
        flood_statuses = statuses.get(timeout=120)
        flood.join(30)
    finally:
        serve.close()
    result = {"alone": stats(alone), "with_unsigned": stats(loaded), "unsigned": flood_statuses}
    misses = []
    for name in ("alone", "with_unsigned"):
        if result[name]["p99_ms"] >= P99_TARGET_MS:
            misses.append(f"(b) legitimate p99 {name} {result[name]['p99_ms']:.1f} ms ≥ 50 ms")
        if result[name]["non_200"]:
            misses.append(f"(b) {result[name]['non_200']} legitimate callback(s) not 200")
    if set(flood_statuses) != {403}:
        misses.append(f"(b) unsigned requests answered {flood_statuses}, expected only 403")
    return result, misses


def main() -> int:
    print(f"mombot serve, {PROCESSES} process(es), SQLite, a real Redis", file=sys.stderr)
    print("(a) Redis stalled…", file=sys.stderr)
    stalled, misses_a = redis_stalled()
    print("(b) unsigned load…", file=sys.stderr)
    loaded, misses_b = unsigned_load()
    rows = [
        ("(a) 100/s, all 25 s", stalled["all"]),
        ("(a) 100/s, Redis stalled 15 s", stalled["during_stall"]),
        ("(b) 200/s legitimate alone", loaded["alone"]),
        ("(b) 200/s + 50/s unsigned 1 MB", loaded["with_unsigned"]),
    ]
    print(f"{'':32} {'requests':>8} {'non-200':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for name, row in rows:
        print(f"{name:32} {row['requests']:>8} {row['non_200']:>7} {row['p50_ms']:>7.1f} "
              f"{row['p99_ms']:>7.1f} {row['max_ms']:>7.1f}")  # fmt: skip
    print(f"(a) rows after the stall: {stalled['stored']}; the relay queued "
          f"{stalled['relayed']}: {stalled['after_relay']}")  # fmt: skip
    print(f"(b) unsigned requests answered: {loaded['unsigned']}")
    misses = misses_a + misses_b
    for miss in misses:
        print(f"MISSED {miss}")
    print("all targets met" if not misses else f"{len(misses)} target(s) missed")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
