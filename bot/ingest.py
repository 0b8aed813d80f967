"""The callback fast path: verified callbacks are committed in groups, answered, then queued.

Requests hand their event to one writer task, which commits whatever has gathered in one
transaction (group commit) and lets the requests answer 200 as soon as their rows are
committed. The writer runs on the event loop itself: a batch is two short statements, and a
thread would cost more in GIL hand-offs than it saves. Duplicates (WeCom's retries) are
acknowledged without a new job.

Queueing is off the requests' path: the new rows go to the enqueuer thread, which puts
whatever has gathered on Redis in one round trip. Redis can only slow that thread, never an
acknowledgement. When Redis fails or does not answer within its socket timeout the rows are
left `received` for the relay, and for a few seconds (REDIS_BACKOFF_SECONDS) new rows go
straight to the relay without trying Redis.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
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
STOP_WAIT_SECONDS = 10.0  # at shutdown, for the enqueuer to hand over what it holds

Rows = list[tuple[int, str]]  # (inbox id, job id)


class Ingestor:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._pending: asyncio.Queue[tuple[NewEvent, asyncio.Future[Stored]]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._to_enqueue: queue.SimpleQueue[Rows | None] = queue.SimpleQueue()
        self._enqueuer: threading.Thread | None = None
        self._redis_down_until = 0.0  # monotonic; written by the enqueuer, read by both
        self._unsettled = 0  # batches handed to the enqueuer and not yet queued or left
        self._settled = threading.Condition()

    def start(self) -> None:
        self._enqueuer = threading.Thread(target=self._enqueue_forever, name="enqueue", daemon=True)
        self._enqueuer.start()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._enqueuer:
            self._to_enqueue.put(None)
            await asyncio.to_thread(self._enqueuer.join, STOP_WAIT_SECONDS)

    async def submit(self, event: NewEvent) -> Stored:
        """Store the event durably (it is queued afterwards); raises if the database failed."""
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._pending.put_nowait((event, future))
        return await future

    def redis_down(self) -> bool:
        return time.monotonic() < self._redis_down_until

    def wait_settled(self, timeout: float | None = None) -> bool:
        """Block until every new row so far is on Redis or left to the relay (for tests and
        benchmarks); False if timeout ran out first."""
        with self._settled:
            return self._settled.wait_for(lambda: self._unsettled == 0, timeout)

    async def settled(self, timeout: float = 30) -> bool:
        return await asyncio.to_thread(self.wait_settled, timeout)

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < MAX_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            to_queue = not self.redis_down()
            try:
                results = store(self._runtime, [event for event, _ in batch], to_queue)
            except Exception as exc:  # the database is down: every request in it answers 503
                log.error("could not store %d callback(s): %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            new = new_rows(results)
            if new and to_queue:
                with self._settled:
                    self._unsettled += 1
                self._to_enqueue.put(new)

    def _enqueue_forever(self) -> None:
        """The enqueuer thread: queue whatever rows have gathered, until told to stop."""
        stopping = False
        while not stopping:
            rows = self._to_enqueue.get()
            if rows is None:
                break
            batches = 1
            while True:  # and everything that came meanwhile, in the same round trip
                try:
                    more = self._to_enqueue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                rows += more
                batches += 1
            try:
                self._enqueue(rows)
            finally:
                with self._settled:
                    self._unsettled -= batches
                    self._settled.notify_all()

    def _enqueue(self, rows: Rows) -> None:
        if not self.redis_down():
            try:
                enqueue_inbound(self._runtime, rows)
                return
            except Exception as exc:  # RedisError mostly; whatever it is, the thread goes on
                self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
                log.warning(
                    "Redis unreachable (%s); %d callback(s) left to the relay", exc, len(rows)
                )
        try:
            with self._runtime.engine.begin() as connection:
                inbox.unqueue(connection, [row_id for row_id, _ in rows])
        except Exception as exc:  # they stay queued without a job: the relay finds them later
            log.error("could not hand %d callback(s) to the relay: %s", len(rows), exc)


def new_rows(stored: list[Stored]) -> Rows:
    return [(s.id, s.job_id) for s in stored if s.new and s.job_id]


def store(runtime: Runtime, events: list[NewEvent], to_queue: bool = True) -> list[Stored]:
    """Store events (once per dedupe key) in one transaction. New rows are marked queued under
    a job id (one job per JOB_CHUNK events), for the caller to enqueue and `inbox.unqueue` if
    that fails; with to_queue False they are left `received` for the relay."""
    chunks = [uuid.uuid4().hex for _ in range(0, len(events), JOB_CHUNK)]
    job_ids = [chunks[i // JOB_CHUNK] for i in range(len(events))]
    with runtime.engine.begin() as connection:
        stored = inbox.store_events(connection, events, runtime.clock.now(), job_ids)
        new = new_rows(stored)
        if new and not to_queue:
            inbox.unqueue(connection, [row_id for row_id, _ in new])
    return stored


def commit(
    runtime: Runtime, events: list[NewEvent], try_redis: bool = True
) -> tuple[list[Stored], bool]:
    """Store events and queue the new ones at once: (results, all queued).

    When Redis fails, or try_redis is False, the new rows are left `received` for the relay.
    """
    stored = store(runtime, events, try_redis)
    new = new_rows(stored)
    if not new:
        return stored, True
    if not try_redis:
        return stored, False
    try:
        enqueue_inbound(runtime, new)
        return stored, True
    except redis.RedisError as exc:
        log.warning("Redis unreachable (%s); %d callback(s) left to the relay", exc, len(new))
    with runtime.engine.begin() as connection:
        inbox.unqueue(connection, [row_id for row_id, _ in new])
    return stored, False
