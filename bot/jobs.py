"""rq job functions, and how inbox rows are put on the queue."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from rq import Queue

import handlers
from bot.runtime import RESULT_TTL, Runtime
from crm.config import Settings
from crm.context import REALTIME, Context, Services
from store import inbox
from store.db import session
from store.models import InboxStatus
from wecom.callbacks import parse_event

log = logging.getLogger(__name__)

FAILURE_TTL = 7 * 24 * 3600


def enqueue_inbound(runtime: Runtime, rows: Sequence[tuple[int, str]]) -> None:
    """Put (inbox id, job id) pairs on the realtime queue in one round trip; rows that share
    a job id are handled by one job."""
    queue = runtime.queue(REALTIME)
    by_job: dict[str, list[int]] = {}
    for row_id, job_id in rows:
        by_job.setdefault(job_id, []).append(row_id)
    data = [
        Queue.prepare_data(
            handle_inbound,
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
        queue.enqueue_many(data, pipeline=pipe)
        pipe.execute()


def retry_delay(settings: Settings, attempts: int) -> timedelta | None:
    """Backoff before the next attempt (x4 each time, at most an hour); None: give up."""
    worker = settings.worker
    if attempts >= worker.max_attempts:
        return None
    return timedelta(seconds=min(worker.retry_base_seconds * 4 ** (attempts - 1), 3600))


def handle_inbound(ctx: Context, *row_ids: int) -> list[str]:
    """rq job: handle inbox rows, each exactly once whatever the queue delivers twice; each on
    a session of its own."""
    return [_handle(ctx.services, row_id) for row_id in row_ids]


def _handle(runtime: Services, row_id: int) -> str:
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
        event = parse_event(row.payload)
        handler = handlers.find(event)
        if handler is None:
            log.warning("no handler for %s (inbox %d): kept as unhandled", event.route, row_id)
            inbox.finish(s, row_id, InboxStatus.UNHANDLED, runtime.clock.now())
            s.commit()
            return InboxStatus.UNHANDLED
        ctx = Context(s, runtime, row.received_at)
        try:
            handler(event, ctx)
            warning = "; ".join(ctx.warnings)
            inbox.finish(s, row_id, InboxStatus.DONE, runtime.clock.now(), warning)
            s.commit()
        except Exception as exc:
            s.rollback()
            delay = retry_delay(runtime.settings, row.attempts)
            now = runtime.clock.now()
            inbox.retry_later(s, row_id, f"{type(exc).__name__}: {exc}", delay and now + delay, now)
            log.exception(
                "handler for %s failed (inbox %d, attempt %d): %s",
                event.route,
                row_id,
                row.attempts,
                "retrying later" if delay else "giving up",
            )
            return InboxStatus.RETRY if delay else InboxStatus.FAILED
    return InboxStatus.DONE
