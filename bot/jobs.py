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
from rq import Queue
from rq.timeouts import BaseTimeoutException
from sqlalchemy.exc import DBAPIError

import handlers
from bot.runtime import RESULT_TTL
from crm.config import Settings
from crm.context import INBOUND, REALTIME, Context, Services
from store import inbox
from store.db import session
from store.models import InboxStatus
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


def handle_inbound(ctx: Context, *row_ids: int) -> list[str]:
    """rq job (realtime): each row's deadline part, then the row goes on to the inbound queue;
    a row whose event has none is handled whole here. Each row exactly once whatever the queue
    delivers twice, each on a session of its own."""
    runtime = ctx.services
    rest = uuid.uuid4().hex  # the job that will finish the rows handed over
    results = [_handle(runtime, row_id, rest) for row_id in row_ids]
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


def _handle(runtime: Services, row_id: int, rest: str | None = None) -> str:
    """Handle one row; with `rest` (a job id), run only its event's deadline part if it has
    one and hand the row over to that job for the whole handler."""
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
        part = handlers.find_first(event) if rest else None
        handler = part or handlers.find(event)
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
            if part is not None and rest is not None:  # the rest after every deadline part
                inbox.hand_over(s, row_id, rest, runtime.clock.now(), warning)
                return InboxStatus.QUEUED
            inbox.finish(s, row_id, InboxStatus.DONE, runtime.clock.now(), warning)
            s.commit()
        except Exception as exc:
            s.rollback()
            if part is not None and rest is not None:  # the whole handler tries it all again
                log.warning("inbox %d %s: deadline part failed: %s", row_id, route, exc)
                inbox.hand_over(s, row_id, rest, runtime.clock.now(), warnings)
                return InboxStatus.QUEUED
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
