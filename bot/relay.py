"""The relay: puts inbox rows on the queue that the fast path could not, or that got lost.

It covers Redis being down when a callback arrived, retries after backoff, a worker that died
holding a lease, and jobs that vanished from Redis. Only one relay pass runs at a time.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from bot.jobs import enqueue_inbound
from bot.runtime import Runtime
from store import inbox
from store.models import InboxStatus

log = logging.getLogger(__name__)

PENDING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
LOCK_NAME = "mombot:relay:lock"


def relay_once(runtime: Runtime) -> int:
    """One pass; returns how many rows were queued."""
    lock = runtime.redis.lock(LOCK_NAME, timeout=60, blocking=False)
    if not lock.acquire():
        return 0
    try:
        return _relay(runtime)
    finally:
        lock.release()


def _relay(runtime: Runtime) -> int:
    now = runtime.clock.now()
    requeue_after = timedelta(seconds=runtime.settings.worker.requeue_after_seconds)
    with runtime.engine.connect() as connection:
        due = inbox.due_for_relay(connection, now, requeue_after)
    queued = 0
    for row_id, status, old_job in due:
        if status == InboxStatus.QUEUED and old_job and _pending(runtime, old_job):
            continue
        job_id = uuid.uuid4().hex
        with runtime.engine.begin() as connection:
            if not inbox.requeue(connection, row_id, status, old_job, job_id, now):
                continue  # a worker moved it meanwhile
        try:
            enqueue_inbound(runtime, [(row_id, job_id)])
        except redis.RedisError:
            with runtime.engine.begin() as connection:
                inbox.unqueue(connection, [row_id])
            raise
        queued += 1
    if queued:
        log.info("relay queued %d inbox event(s)", queued)
    return queued


def _pending(runtime: Runtime, job_id: str) -> bool:
    try:
        return Job.fetch(job_id, connection=runtime.redis).get_status() in PENDING
    except NoSuchJobError:
        return False
