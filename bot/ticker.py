"""The worker's ticker thread: the embedded Redis's supervision and the relay every second,
the SOP tick every minute, and the daily stage refresh.

Each duty runs under its own guard in Redis, so several workers do not repeat it: the relay
holds a lock for its pass, the daily refresh is queued once per day (SET NX on the date).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import time

from bot import redis_conn, relay
from bot.runtime import Runtime
from crm.context import BULK
from sop import lifecycle
from sop.tick import tick

log = logging.getLogger(__name__)


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


DUTIES = (embedded_redis, relay.relay_once, queue_daily_refresh, sop_tick)


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
