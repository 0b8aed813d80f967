"""Bursts of new friends: how many mothers get their welcome inside WeCom's 20 s window.

A live stream or a 门店 event brings thousands of adds within a minute. Each scenario starts
a fresh corp (SQLite, a real Redis, the WeCom sandbox, which refuses a WelcomeCode older than
20 s), the default deployment (`mombot serve` with a process per core, one `mombot worker`),
makes the mothers befriend their advisor in the sandbox and posts WeCom's signed, encrypted
add_external_contact callbacks from a separate sender process at the scenario's pace:

- burst: 2,000 adds within one second (target: at least 99% welcomed)
- steady: 6,000 adds at 300 a second (target: at least 95%)
- restarts: 2,000 adds at 40 a second while the worker is SIGKILLed and started again three
  times (target: at least 99%)
- baseline (same run): the burst with `[worker] concurrency = 1`, one job at a time as before;
  steady4: the steady stream with 4 slots per process (the default before 16).

Latency runs from the befriending (WeCom's 20 s start) to the sandbox accepting
send_welcome_msg. Exits non-zero when a target is missed.

Run: .venv/bin/python -m bench.burst [scenario ...]
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp

from bench.common import (
    CORP_ID,
    CRYPTO,
    TZ,
    Corp,
    Process,
    free_port,
    mombot,
    sandboxed_corp,
    wait_http,
    write_config,
)
from bot import heartbeat
from wecom.sandbox.driver import CallbackDriver, contact_event, to_xml

WINDOW = 20.0


@dataclass(frozen=True)
class Scenario:
    name: str
    adds: int
    per_second: float  # 0: all at once
    target: float  # share welcomed inside the window
    concurrency: int | None = None  # None: the default
    kill_worker_at: tuple[float, ...] = ()  # seconds after the first post


SCENARIOS = {
    "burst": Scenario("burst", 2000, 2000, 0.99),
    "steady": Scenario("steady", 6000, 300, 0.95),
    "restarts": Scenario("restarts", 2000, 40, 0.99, kill_worker_at=(10, 22, 34)),
    "baseline": Scenario("baseline", 2000, 2000, 0.0, concurrency=1),
    "steady4": Scenario("steady4", 6000, 300, 0.0, concurrency=4),
}


def send(requests_file: str, url: str, per_second: float, began: float) -> None:
    """The sender process: post each request at its due time (open loop: request i at
    began + i / per_second, epoch seconds), 256 at once."""
    requests = pickle.loads(Path(requests_file).read_bytes())

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=256)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
            start = time.monotonic() + began - time.time()
            failures = 0

            async def post(i: int, params: dict, body: bytes) -> None:
                nonlocal failures
                await asyncio.sleep(max(0.0, start + i / per_second - time.monotonic()))
                try:
                    async with client.post(url, params=params, data=body) as answer:
                        await answer.read()
                        failures += answer.status != 200
                except (aiohttp.ClientError, TimeoutError):
                    failures += 1

            await asyncio.gather(*(post(i, *r) for i, r in enumerate(requests)))
            print(json.dumps({"posted_in_s": round(time.monotonic() - start, 2),
                              "failures": failures}))  # fmt: skip

    asyncio.run(run())


def _wait_for_worker(corp: Corp, seconds: float = 60) -> None:
    import redis

    connection = redis.Redis.from_url(corp.redis.url)
    deadline = time.monotonic() + seconds
    while not heartbeat.alive(connection):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start")
        time.sleep(0.05)
    connection.close()


def run(scenario: Scenario) -> dict:
    with sandboxed_corp() as corp:
        folder, state = corp.folder, corp.state
        port = free_port()
        channel = {"code": "live", "name": "直播间", "tags": ["直播"], "advisors": ["zhangsan"]}
        worker = {"concurrency": scenario.concurrency} if scenario.concurrency else {}
        path = write_config(
            folder, corp.redis.url, corp.sandbox.url, server={"port": port}, channels=[channel],
            worker=worker,
        )  # fmt: skip
        serve, work = mombot(folder, path, "serve"), mombot(folder, path, "worker")
        restarted: list[Process] = []
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            _wait_for_worker(corp)
            driver = CallbackDriver(CRYPTO, CORP_ID)
            mothers = [state.befriend("zhangsan", f"妈妈{i}", "live") for i in range(scenario.adds)]
            # each mother scans as her callback is due: her 20 s start then (CreateTime too)
            began = time.time() + 2.0 + scenario.adds / 1000  # envelopes made, sender started
            rate = scenario.per_second
            due = {f.external_userid: began + i / rate for i, f in enumerate(mothers)}
            requests = []
            for follow in mothers:
                at = due[follow.external_userid]
                state.welcome_codes[follow.welcome_code].issued_at = datetime.fromtimestamp(at, TZ)
                fields = contact_event(
                    "add_external_contact", CORP_ID, "zhangsan", follow.external_userid,
                    int(at), State="live", WelcomeCode=follow.welcome_code,
                )  # fmt: skip
                requests.append(driver.envelope(to_xml(fields)))
            requests_file = folder / "requests.pickle"
            requests_file.write_bytes(pickle.dumps(requests))
            sender = Process(
                [sys.executable, "-m", "bench.burst", "--send", str(requests_file),
                 f"http://127.0.0.1:{port}/wecom/callback", str(rate), str(began)],
                folder / "sender.log",
            )  # fmt: skip
            for at in scenario.kill_worker_at:
                time.sleep(max(0.0, began + at - time.time()))
                os.killpg(work.popen.pid, signal.SIGKILL)
                work.popen.wait()
                work = mombot(folder, path, "worker")
                restarted.append(work)
            sender.popen.wait(600)
            sender.stop()
            last_due = began + scenario.adds / scenario.per_second
            while time.time() < last_due + WINDOW + 2 and len(state.welcomes) < scenario.adds:
                time.sleep(0.2)
            latencies = sorted(w.at.timestamp() - due[w.external_userid] for w in state.welcomes)
            welcomed = len(latencies)
            sent_log = (folder / "sender.log").read_text().strip().splitlines()
            return {
                "scenario": scenario.name,
                "adds": scenario.adds,
                "per_second": scenario.per_second,
                "sender": json.loads(sent_log[-1]) if sent_log else {},
                "welcomed": welcomed,
                "share": round(welcomed / scenario.adds, 4),
                "p50_s": round(latencies[len(latencies) // 2], 2) if latencies else None,
                "p99_s": round(latencies[int(len(latencies) * 0.99) - 1], 2) if latencies else None,
                "max_s": round(latencies[-1], 2) if latencies else None,
                "target": scenario.target,
                "met": welcomed / scenario.adds >= scenario.target,
            }
        finally:
            serve.stop()
            work.stop()


def main(names: list[str]) -> int:
    results = [run(SCENARIOS[name]) for name in names or ["baseline", "burst", "steady",
                                                         "restarts"]]  # fmt: skip
    print(json.dumps({"measured_at": datetime.now(TZ).isoformat(timespec="seconds"),
                      "results": results}, indent=2, ensure_ascii=False))  # fmt: skip
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--send"]:
        send(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(main(sys.argv[1:]))
