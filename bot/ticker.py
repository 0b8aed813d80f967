"""The worker's ticker thread: the embedded Redis's supervision and the relay every second,
the SOP tick every minute, the daily stage refresh and the daily report to managers.

Each duty runs under its own guard in Redis, so several workers do not repeat it: the relay
holds a lock for its pass, the daily jobs are queued once per day (SET NX on the date).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import time

from bot import redis_conn, relay
from bot.runtime import Runtime
from crm.context import BULK, INBOUND
from handlers import report
from sop import lifecycle
from sop.tick import tick

log = logging.getLogger(__name__)

REPORT_RETRY_SECONDS = 600  # a daily push that has not finished is queued again after this


def queue_daily_refresh(runtime: Runtime) -> bool:
    """Queue today's stage refresh once, after [stages] refresh_at; True if queued now."""
    now = runtime.clock.now()
    if now.time() < time.fromisoformat(runtime.settings.stages.refresh_at):
        return False
    key = f"mombot:stages:refresh:{now.date().isoformat()}"
    if not runtime.redis.set(key, now.isoformat(), nx=True, ex=3 * 24 * 3600):
        return False
    runtime.enqueue(BULK, lifecycle.refresh_job, now.date().isoformat(), job_timeout=3600)
    log.info("queued the stage refresh for %s", now.date())
    return True


def queue_daily_report(runtime: Runtime) -> bool:
    """Queue the push of yesterday's report after [report] daily_at, until a push has finished
    today (again REPORT_RETRY_SECONDS after one that did not); True if queued now. The
    outbox's ledger keeps each manager to one push a day whatever happens here."""
    rules, now = runtime.settings.report, runtime.clock.now()
    if not rules.daily_push or not report.due(now, rules.daily_at):
        return False
    if not runtime.settings.managers and not rules.webhook_url.get_secret_value():
        return False
    day = now.date().isoformat()
    if runtime.redis.exists(report.pushed_key(day)):
        return False
    queued = f"mombot:report:daily:{day}:queued"
    if not runtime.redis.set(queued, now.isoformat(), nx=True, ex=REPORT_RETRY_SECONDS):
        return False
    runtime.enqueue(INBOUND, report.daily_push, day, job_timeout=600)
    log.info("queued the daily report for %s", day)
    return True


def sop_tick(runtime: Runtime) -> bool:
    """Move due SOP tasks to the bulk queue, once a minute across all workers."""
    now = runtime.clock.now()
    if not runtime.redis.set(f"mombot:sop:tick:{now:%Y%m%d%H%M}", 1, nx=True, ex=180):
        return False
    with runtime.context() as ctx:
        tick(ctx, now)
    return True


def embedded_redis(runtime: Runtime) -> bool:
    """Start the embedded Redis again if it died (an external one is not ours to start)."""
    return redis_conn.supervise(runtime.settings.redis.url, runtime.settings.data_path)


DUTIES = (embedded_redis, relay.relay_once, queue_daily_refresh, queue_daily_report, sop_tick)


def run_forever(
    runtime: Runtime, stop: threading.Event, more: Sequence[Callable[[Runtime], object]] = ()
) -> None:
    """Run the duties (and `more`: the worker's heartbeat) at once, then every
    relay_interval_seconds until `stop` is set."""
    interval = runtime.settings.worker.relay_interval_seconds
    failing: set[str] = set()
    while True:
        for duty in (*more, *DUTIES):
            name = duty.__name__
            try:
                duty(runtime)
                if name in failing:
                    log.info("%s recovered", name)
                failing.discard(name)
            except Exception:
                if name not in failing:  # log the first failure, not one per second
                    log.exception("%s failed; will keep trying", name)
                failing.add(name)
        if stop.wait(interval):
            return
