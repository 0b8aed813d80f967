"""The callback fast path: verified callbacks are committed in groups, then queued.

Requests hand their event to one writer task, which commits whatever has gathered in one
transaction (group commit), enqueues the new rows in one Redis round trip, and only then lets
the requests answer 200. The writer runs on the event loop itself: a batch is two short
statements, and a thread would cost more in GIL hand-offs than it saves. Duplicates (WeCom's
retries) are acknowledged without a new job. When Redis is unreachable the rows stay
`received` for the relay, and the writer stops trying Redis for a few seconds so that
callbacks are not slowed down by connect timeouts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import redis

from bot.jobs import enqueue_inbound
from bot.runtime import Runtime
from store import inbox
from store.inbox import NewEvent, Stored

log = logging.getLogger(__name__)

MAX_BATCH = 256
JOB_CHUNK = 8  # callbacks per rq job: cheaper queueing under load, still spread over workers
REDIS_BACKOFF_SECONDS = 5.0


class Ingestor:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._pending: asyncio.Queue[tuple[NewEvent, asyncio.Future[Stored]]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._redis_down_until = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, event: NewEvent) -> Stored:
        """Store the event durably (and queue it if new); raises if the database failed."""
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._pending.put_nowait((event, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < MAX_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            try:
                results = self._commit([event for event, _ in batch])
            except Exception as exc:  # the database is down: every request in it answers 503
                log.error("could not store %d callback(s): %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _commit(self, events: list[NewEvent]) -> list[Stored]:
        try_redis = time.monotonic() >= self._redis_down_until
        stored, queued = commit(self._runtime, events, try_redis)
        if try_redis and not queued:
            self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
        return stored


def commit(
    runtime: Runtime, events: list[NewEvent], try_redis: bool = True
) -> tuple[list[Stored], bool]:
    """Store events (once per dedupe key) and queue the new ones: (results, all queued).

    When Redis fails, or try_redis is False, the new rows are left `received` for the relay.
    """
    chunks = [uuid.uuid4().hex for _ in range(0, len(events), JOB_CHUNK)]
    job_ids = [chunks[i // JOB_CHUNK] for i in range(len(events))]
    with runtime.engine.begin() as connection:
        stored = inbox.store_events(connection, events, runtime.clock.now(), job_ids)
    new = [(s.id, s.job_id) for s in stored if s.new and s.job_id]
    if not new:
        return stored, True
    if try_redis:
        try:
            enqueue_inbound(runtime, new)
            return stored, True
        except redis.RedisError as exc:
            log.warning("Redis unreachable (%s); %d callback(s) left to the relay", exc, len(new))
    with runtime.engine.begin() as connection:
        inbox.unqueue(connection, [row_id for row_id, _ in new])
    return stored, False
