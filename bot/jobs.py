"""rq job functions, and how inbox rows are put on the queue.

An inbox row goes to the realtime queue (`handle_inbound`). Its event's deadline part, if
its handler has one (`handlers.first`), runs there, and the row moves on to the inbound queue
for the whole handler (`finish_inbound`); an event without one is handled there and then.
Failures that may pass (WeCom busy, a network or database hiccup, Redis) are retried with
backoff; anything else (a malformed event, a bug) fails at once with its reason.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

import httpx
import redis
from rq import Queue, get_current_job
from rq.timeouts import BaseTimeoutException
from sqlalchemy.exc import DBAPIError

import handlers
from bot.runtime import RESULT_TTL
from crm.config import Settings
from crm.context import INBOUND, REALTIME, Context, Services
from store import inbox
from store.db import session
from store.models import InboundEvent, InboxStatus
from wecom.callbacks import parse_event
from wecom.client import is_transient

log = logging.getLogger(__name__)

FAILURE_TTL = 7 * 24 * 3600
# failures worth another attempt later: the same work may well succeed then
PASSING = (redis.RedisError, DBAPIError, httpx.TransportError, OSError, BaseTimeoutException)


def enqueue_inbound(
    runtime: Services,
    rows: Sequence[tuple[int, str]],
    queue: str = REALTIME,
) -> None:
    """Put (inbox id, job id) pairs on a queue in one round trip; rows that share a job id are
    handled by one job: `handle_inbound` on realtime, `finish_inbound` on inbound."""
    func: Callable[..., list[str]] = handle_inbound if queue == REALTIME else finish_inbound
    target = Queue(queue, connection=runtime.redis)
    by_job: dict[str, list[int]] = {}
    for row_id, job_id in rows:
        by_job.setdefault(job_id, []).append(row_id)
    data = [
        Queue.prepare_data(
            func,
            args=tuple(row_ids),
            job_id=job_id,
            timeout=runtime.settings.worker.job_timeout_seconds,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=f"inbound {', '.join(map(str, row_ids))}",
        )
        for job_id, row_ids in by_job.items()
    ]
    with runtime.redis.pipeline(transaction=False) as pipe:
        target.enqueue_many(data, pipeline=pipe)
        pipe.execute()


def retry_delay(settings: Settings, attempts: int) -> timedelta | None:
    """Backoff before the next attempt (x4 each time, at most an hour); None: give up."""
    worker = settings.worker
    if attempts >= worker.max_attempts:
        return None
    return timedelta(seconds=min(worker.retry_base_seconds * 4 ** (attempts - 1), 3600))


def passing(exc: BaseException) -> bool:
    """Whether a failure may pass by itself (then the work is tried again later)."""
    return is_transient(exc) or isinstance(exc, PASSING)


def rest_of(job_id: str) -> str:
    """The id of the inbound job that finishes the rows of a realtime job (the relay looks
    for it before it queues such a row again)."""
    return f"{job_id}-rest"


def handle_inbound(ctx: Context, *row_ids: int) -> list[str]:
    """rq job (realtime): each row's deadline part, then the rows go on to the inbound queue,
    still queued under this job (`rest_of` it); a row whose event has none is handled whole
    here. Each row exactly once whatever the queue delivers twice (the deadline part's sends
    are once per key in the outbox's ledger), each on a session of its own."""
    runtime = ctx.services
    job = get_current_job()
    rest = rest_of(job.id) if job else uuid.uuid4().hex
    results = [_first(runtime, row_id, job.id if job else None) for row_id in row_ids]
    handed = [row_id for row_id, result in zip(row_ids, results, strict=True)
              if result == InboxStatus.QUEUED]  # fmt: skip
    if handed:
        try:
            enqueue_inbound(runtime, [(row_id, rest) for row_id in handed], INBOUND)
        except redis.RedisError as exc:  # the relay queues them again after requeue_after
            log.warning("could not queue the rest of inbox %s: %s", handed, exc)
    return results


def finish_inbound(ctx: Context, *row_ids: int) -> list[str]:
    """rq job (inbound): the whole handler of rows whose deadline part has run."""
    return [_handle(ctx.services, row_id) for row_id in row_ids]


def _first(runtime: Services, row_id: int, job_id: str | None) -> str:
    """The deadline part of the row's event, if it has one, and QUEUED for the rest; otherwise
    the whole handler now. The part runs without taking the row (it writes nothing before its
    send: on SQLite every write waits for the one writer), only in the job the row is queued
    under (a stray copy of a job leaves the row alone), and its sends are once per key."""
    with session(runtime.engine) as s:
        row = s.get(InboundEvent, row_id)
        if row is None or row.status != InboxStatus.QUEUED:
            return "skipped: not waiting for a worker"
        if job_id is not None and row.job_id != job_id:
            return "skipped: queued under another job"
        try:
            event = parse_event(row.payload)
        except Exception:  # unreadable: the whole handler records why
            event = None
        part = handlers.find_first(event) if event is not None else None
        if part is not None:
            ctx = Context(s, runtime, row.received_at)
            try:
                part(event, ctx)
                s.commit()
            except Exception as exc:  # the whole handler tries it all again
                s.rollback()
                log.warning("inbox %d: deadline part failed: %s", row_id, exc)
                return InboxStatus.QUEUED
            if ctx.warnings:
                inbox.add_warnings(s, row_id, ctx.warnings)
                s.commit()
            return InboxStatus.QUEUED
    return _handle(runtime, row_id)


def _handle(runtime: Services, row_id: int) -> str:
    """Handle one row: claim it, run its event's handler, record the outcome."""
    started = time.monotonic()
    lease = timedelta(seconds=runtime.settings.worker.lease_seconds)
    with session(runtime.engine) as s:
        row = inbox.claim(s, row_id, runtime.clock.now(), lease)
        if row is None:
            return "skipped: done or held by another worker"
        if row.attempts > runtime.settings.worker.max_attempts:  # workers kept dying on it
            now = runtime.clock.now()
            inbox.retry_later(s, row_id, "worker lost while handling it, too often", None, now)
            log.error("inbox %d failed: workers died handling it %d times", row_id, row.attempts)
            return InboxStatus.FAILED
        try:
            event = parse_event(row.payload)
        except Exception as exc:  # signed by WeCom yet not an event we can read
            inbox.retry_later(s, row_id, f"unreadable: {exc}", None, runtime.clock.now())
            log.error("inbox %d failed: unreadable event: %s", row_id, exc)
            return InboxStatus.FAILED
        route = "/".join(part for part in event.route if part)
        handler = handlers.find(event)
        if handler is None:
            log.warning("inbox %d %s: no handler, kept as unhandled", row_id, route)
            inbox.finish(s, row_id, InboxStatus.UNHANDLED, runtime.clock.now())
            s.commit()
            return InboxStatus.UNHANDLED
        ctx = Context(s, runtime, row.received_at)
        warnings = inbox.warnings_of(row.warning)  # from its deadline part
        try:
            handler(event, ctx)
            warning = list(dict.fromkeys(warnings + ctx.warnings))
            inbox.finish(s, row_id, InboxStatus.DONE, runtime.clock.now(), warning)
            s.commit()
        except Exception as exc:
            s.rollback()
            now = runtime.clock.now()
            delay = retry_delay(runtime.settings, row.attempts) if passing(exc) else None
            reason = f"{type(exc).__name__}: {exc}"
            inbox.retry_later(s, row_id, reason, delay and now + delay, now)
            log.error(
                "inbox %d %s failed (attempt %d): %s; %s",
                row_id, route, row.attempts, reason,
                f"retrying in {delay.total_seconds():.0f} s" if delay else "giving up",
                exc_info=not passing(exc),
            )  # fmt: skip
            return InboxStatus.RETRY if delay else InboxStatus.FAILED
    summary = "; ".join(ctx.notes) or "done"
    warned = f" ({len(ctx.warnings)} warning(s))" if ctx.warnings else ""
    log.info(
        "inbox %d %s: %s%s in %.0f ms",
        row_id, route, summary, warned, (time.monotonic() - started) * 1000,
    )  # fmt: skip
    return InboxStatus.DONE
