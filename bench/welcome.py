"""Welcome latency with the queues busy: from the moment WeCom posts add_external_contact to
the moment the sandbox accepts send_welcome_msg, while 50,000 bulk jobs wait in the bulk
queue (each a 5 ms stand-in for a SOP send). `mombot serve` and one `mombot worker` run as
real processes against the sandbox; 100 mothers add an advisor, 4 a second.

Run: .venv/bin/python -m bench.welcome
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import datetime

import httpx
import redis
from rq import Queue, Worker

from bench.common import (
    CORP_ID,
    CRYPTO,
    TZ,
    free_port,
    mombot,
    sandboxed_corp,
    wait_http,
    write_config,
)
from crm.context import BULK, REALTIME
from wecom.sandbox.driver import CallbackDriver, contact_event

BULK_JOBS = 50_000
MOTHERS = 100
PER_SECOND = 4


def bulk_stand_in() -> None:
    """What a bulk job costs the worker: about one WeCom call."""
    time.sleep(0.005)


def main() -> None:
    with sandboxed_corp() as corp:
        folder, redis_server, state, sandbox = corp.folder, corp.redis, corp.state, corp.sandbox
        port = free_port()
        channel = {"code": "poster", "name": "门店海报", "tags": ["门店"], "advisors": ["zhangsan"]}
        path = write_config(
            folder, redis_server.url, sandbox.url, server={"port": port}, channels=[channel]
        )
        connection = redis.Redis.from_url(redis_server.url)
        bulk = Queue(BULK, connection=connection)
        print(f"queueing {BULK_JOBS} bulk jobs…", file=sys.stderr)
        for _ in range(0, BULK_JOBS, 5000):
            bulk.enqueue_many(
                [Queue.prepare_data(bulk_stand_in, result_ttl=0) for _ in range(5000)]
            )
        serve, work = mombot(folder, path, "serve"), mombot(folder, path, "worker")
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            deadline = time.monotonic() + 60
            while not Worker.count(connection=connection):  # started and listening
                assert time.monotonic() < deadline, "the worker did not start"
                time.sleep(0.1)
            sent: dict[str, float] = {}
            with httpx.Client(timeout=10) as client:
                driver = CallbackDriver(
                    CRYPTO, CORP_ID, f"http://127.0.0.1:{port}/wecom/callback", client
                )
                for i in range(MOTHERS):
                    follow = state.befriend("zhangsan", f"妈妈{i}", "poster")
                    fields = contact_event(
                        "add_external_contact", CORP_ID, "zhangsan", follow.external_userid,
                        follow.createtime, State="poster", WelcomeCode=follow.welcome_code,
                    )  # fmt: skip
                    sent[follow.external_userid] = time.time()
                    assert driver.post(fields).status_code == 200
                    time.sleep(1 / PER_SECOND)
            deadline = time.monotonic() + 60
            while len(state.welcomes) < MOTHERS and time.monotonic() < deadline:
                time.sleep(0.1)
            latencies = sorted(
                (w.at.timestamp() - sent[w.external_userid]) * 1000 for w in state.welcomes
            )
            result = {
                "welcomes": f"{len(latencies)}/{MOTHERS}",
                "p50_ms": round(statistics.median(latencies), 1),
                "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
                "max_ms": round(latencies[-1], 1),
                "bulk_jobs_still_queued": bulk.count,
                "realtime_queue_left": Queue(REALTIME, connection=connection).count,
                "measured_at": datetime.now(TZ).isoformat(timespec="seconds"),
            }
            print(json.dumps(result, indent=2))
        finally:
            serve.stop()
            work.stop()


if __name__ == "__main__":
    main()
