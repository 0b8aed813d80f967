"""The relay: puts inbox rows on the queue that the fast path could not, or that got lost,
and gathers the leads waiting to be told to each advisor into one event for him.

It covers Redis being down when a callback arrived, retries after backoff, a worker that died
holding a lease or a job, and jobs that vanished from Redis. Only one relay pass runs at a time.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from bot import heartbeat
from bot.jobs import enqueue_inbound, rest_of
from bot.runtime import Runtime
from crm import assign
from crm.context import QUEUE_NAMES
from store import inbox, notices
from store.models import InboxStatus

log = logging.getLogger(__name__)

PENDING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
LOCK_NAME = "mombot:relay:lock"
LOCK_SECONDS = 10  # a pass takes milliseconds; a worker that died in one holds it this long
TOLD_KEY = "mombot:assigned:told:"  # + userid: when the advisor was last told of new leads


def relay_once(runtime: Runtime, wait: float = 0.0) -> int:
    """One pass; returns how many rows were queued. While another pass holds the lock, none
    (the ticker's next second will do), or after waiting up to `wait` seconds for it."""
    lock = runtime.redis.lock(LOCK_NAME, timeout=LOCK_SECONDS, blocking=wait > 0,
                              blocking_timeout=wait or None)  # fmt: skip
    if not lock.acquire():
        return 0
    try:
        return _relay(runtime)
    finally:
        lock.release()


def _relay(runtime: Runtime) -> int:
    now = runtime.clock.now()
    requeue_after = timedelta(seconds=runtime.settings.worker.requeue_after_seconds)
    live = {(beat.host, beat.pid) for beat in heartbeat.alive(runtime.redis)}
    _rescue(runtime, live)
    _tell_advisors(runtime, now)
    with runtime.engine.connect() as connection:
        due = inbox.due_for_relay(connection, now, requeue_after)
    queued = 0
    for row_id, status, old_job in due:
        if (
            status == InboxStatus.QUEUED
            and old_job
            and (_pending(runtime, old_job, live) or _pending(runtime, rest_of(old_job), live))
        ):
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


def _tell_advisors(runtime: Runtime, now: datetime) -> None:
    """Each advisor's waiting lead notices become one event, unless he was told less than
    assign.NOTICE_GAP ago: then they wait for a later pass, and more may join them."""
    told = []
    with runtime.engine.begin() as connection:
        for userid, waiting in notices.waiting(connection).items():
            last = runtime.redis.get(TOLD_KEY + userid)
            if last is not None:
                since = now - datetime.fromisoformat(last.decode())
                if timedelta(0) <= since < assign.NOTICE_GAP:
                    continue
            assign.announce(connection, userid, waiting, now)
            told.append(userid)
    for userid in told:
        runtime.redis.set(TOLD_KEY + userid, now.isoformat(), ex=24 * 3600)
    if told:
        log.info("%d advisor(s) to be told of new leads", len(told))


def _rescue(runtime: Runtime, live: set[tuple[str, int]]) -> None:
    """Jobs whose worker process died running them go back to the front of their queue at
    once: the deadline parts among them may still make it (the jobs are safe to run again)."""
    for name in QUEUE_NAMES:
        registry = StartedJobRegistry(name, connection=runtime.redis)
        for job_id in registry.get_job_ids(cleanup=False):
            try:
                job = Job.fetch(job_id, connection=runtime.redis)
            except NoSuchJobError:
                continue
            if _orphaned(job, live):
                registry.remove_executions(job)
                Queue(name, connection=runtime.redis).enqueue_job(job, at_front=True)
                log.warning("job %s of a worker that died is queued again", job_id)


def _orphaned(job: Job, live: set[tuple[str, int]]) -> bool:
    owner = heartbeat.process_of(job.worker_name or "")
    return owner is not None and heartbeat.gone(*owner, live)


def _pending(runtime: Runtime, job_id: str, live: set[tuple[str, int]]) -> bool:
    """Whether the job is still to run or running (not if its worker died running it: rows
    of a deadline part wait under their job, without a lease; nor if it says queued and no
    queue holds it: Redis can hand a job to a worker killed while waiting for one)."""
    try:
        job = Job.fetch(job_id, connection=runtime.redis)
    except NoSuchJobError:
        return False
    status = job.get_status()
    if status == JobStatus.STARTED and _orphaned(job, live):
        return False
    if status == JobStatus.QUEUED:
        queue = Queue(job.origin, connection=runtime.redis)
        return runtime.redis.lpos(queue.key, job.id) is not None
    return status in PENDING
