"""`mombot worker`: `[worker] concurrency` slots taking jobs from the realtime, inbound and
bulk queues (in that order), and the ticker (the relay every second, the SOP tick every
minute, the daily stage refresh, the heartbeat, the embedded Redis's supervision).

A slot is a thread running an rq SimpleWorker: jobs are mostly waiting for WeCom, so one
process carries many at once, and heavy one-time set-up (database engine, migrations, handler
registry) happens once per process. The jieba dictionary loads in the background: the first
jobs (welcomes) do not need it. Every job is a function `job(ctx, *args)`: the slot gives it a
Context on a fresh session. A job that outlives its timeout is interrupted; a worker that dies
mid-job leaves a lease that expires, after which the relay queues the event again.

Redis trouble never ends the process: a slot whose rq loop gives up (Redis gone or timing
out) starts again after a backoff, and the ticker keeps trying its duties.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import uuid
from functools import partial
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

import handlers
from bot import heartbeat, processes, redis_conn, relay, ticker
from bot.runtime import Runtime
from crm import dates
from crm.context import QUEUE_NAMES

log = logging.getLogger(__name__)

STOP_POLL = 2  # seconds: how soon an idle slot notices a stop request
MAX_BACKOFF = 30.0
BURST_PASSES = 10  # relay-and-work rounds of a burst at most


class ContextJob(Job):
    """A job whose function is called with the worker's Context first."""

    runtime: Runtime | None = None  # set by the slot just before it performs the job

    def _execute(self) -> Any:
        if self.runtime is None:
            raise RuntimeError(f"job {self.id} has no runtime: run it with mombot's worker")
        with self.runtime.context() as ctx:
            return self.func(ctx, *self.args, **self.kwargs)


class Busy:
    """How many jobs the process's slots have in hand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self.count -= 1


class Slot(SimpleWorker):
    """One rq worker loop on a thread of its own."""

    job_class = ContextJob
    death_penalty_class = TimerDeathPenalty  # rq's default (SIGALRM) works in the main thread only

    def __init__(self, queues: list[Queue], runtime: Runtime, busy: Busy, **kwargs: Any) -> None:
        super().__init__(queues, connection=queues[0].connection, **kwargs)
        self.runtime = runtime
        self.busy = busy

    def _install_signal_handlers(self) -> None:
        """The process's main thread handles the signals and stops every slot."""

    def subscribe(self) -> None:
        """rq's command channel (a pubsub thread per worker) is not used."""

    def unsubscribe(self) -> None:
        """Nothing subscribed."""

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """rq's wait for a job, in short waits that look for a stop request in between (rq
        counts on a signal handler in the same thread to interrupt its wait)."""
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(
                timeout and min(timeout, STOP_POLL), STOP_POLL if timeout else max_idle_time
            )
            if result is not None or timeout is None:  # a job, or burst mode's empty queues
                return result
        raise StopRequested()

    def perform_job(self, job: Job, queue: Queue) -> bool:
        job.runtime = self.runtime
        with self.busy:
            return super().perform_job(job, queue)


class Pool:
    """The process's slots, each started again after a backoff if its loop gives up."""

    def __init__(self, runtime: Runtime, burst: bool) -> None:
        self.runtime = runtime
        self.burst = burst
        self.busy = Busy()
        self.stop = threading.Event()
        self.started_at = runtime.clock.now()
        self.worked = False
        self._slots: dict[int, Slot] = {}
        # rq's blocking pop waits longer than the jobs' client may: a client of its own
        self._connection = redis_conn.connect(
            runtime.settings.redis.url, runtime.settings.data_path, blocking=True
        )

    @property
    def size(self) -> int:
        return self.runtime.settings.worker.concurrency

    def run(self) -> bool:
        threads = [
            threading.Thread(target=self._run_slot, args=(i,), name=f"slot-{i}", daemon=True)
            for i in range(self.size)
        ]
        for thread in threads:
            thread.start()
        # once stopping, only the jobs in hand are waited for: an idle slot may be stuck
        # waiting for a Redis that is gone (its thread ends with the process)
        while any(t.is_alive() for t in threads) and not (
            self.stop.is_set() and not self.busy.count
        ):
            time.sleep(0.1)
        return self.worked

    def _stopped(self) -> bool:
        return self.stop.is_set() and not self.busy.count

    def request_stop(self) -> None:
        """Finish the jobs in hand, take no more."""
        self.stop.set()
        for slot in list(self._slots.values()):
            slot._stop_requested = True

    def beat(self, runtime: Runtime) -> None:
        host, pid = heartbeat.me()
        heartbeat.beat(runtime.redis, heartbeat.Beat(
            host=host, pid=pid, started_at=self.started_at.isoformat(),
            concurrency=self.size, busy=self.busy.count, at=runtime.clock.now().isoformat(),
        ))  # fmt: skip

    def _run_slot(self, index: int) -> None:
        queues = [Queue(name, connection=self._connection) for name in QUEUE_NAMES]
        backoff = 0.5
        host, pid = heartbeat.me()
        while not self.stop.is_set():
            began = time.monotonic()
            try:  # rq talks to Redis from the start (registering the slot)
                slot = Slot(
                    queues, self.runtime, self.busy,
                    name=heartbeat.slot_name(host, pid, index, uuid.uuid4().hex[:6]),
                )  # fmt: skip
                self._slots[index] = slot
                if self.stop.is_set():  # asked to stop while it was being made
                    return
                # only ever set: `self.worked |= slot.work(…)` read the flag before the slot
                # worked, and an idle slot quitting last put back the False it had read
                if slot.work(burst=self.burst, logging_level=None):
                    self.worked = True
            except Exception as exc:  # Redis gone (or rq tripping over it): never end the slot
                log.warning("slot %d: %s: %s", index, type(exc).__name__, exc)
            if self.burst or self.stop.is_set():
                return
            if time.monotonic() - began > 60:
                backoff = 0.5  # it had been working: this is fresh trouble
            log.warning("slot %d stopped taking jobs; starting again in %.1f s", index, backoff)
            self.stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)


def run(runtime: Runtime, burst: bool = False) -> bool:
    """Work until stopped (or, with burst, until the queues are empty, in this process only);
    True if any job ran. Unless in burst, [worker] processes copies of the process work side
    by side, each with its slots and ticker."""
    handlers.load()
    if burst:  # jieba's dictionary loads on the first date in words, if any job reads one
        ran = False
        # whatever waited while no worker was running, then the events of mombot's own that
        # the jobs wrote (a lead assigned, a score crossing its threshold), until none is left
        for _ in range(BURST_PASSES):
            queued = relay.relay_once(runtime, wait=relay.LOCK_SECONDS)  # never skip a pass
            worked = Pool(runtime, burst).run()
            ran = ran or worked
            if not queued and not worked:
                break
        return ran
    children = processes.fork(
        runtime.settings.worker.process_count - 1, partial(_work, runtime, forked=True)
    )
    try:
        return _work(runtime)
    finally:
        processes.stop(children)


def _work(runtime: Runtime, forked: bool = False) -> bool:
    if forked:
        runtime.engine.dispose(close=False)  # the parent's connections stay the parent's
    pool = Pool(runtime, burst=False)
    threading.Thread(target=dates.initialise, name="jieba", daemon=True).start()
    ticker_thread = threading.Thread(
        target=ticker.run_forever, args=(runtime, pool.stop, (pool.beat,)), name="ticker",
        daemon=True,
    )  # fmt: skip
    _stop_on_signals(pool)
    ticker_thread.start()
    log.info("worker process started: %d slot(s) on %s", pool.size, ", ".join(QUEUE_NAMES))
    try:
        return pool.run()
    finally:
        pool.stop.set()
        host, pid = heartbeat.me()
        with contextlib.suppress(redis.RedisError):  # else it expires by itself
            heartbeat.forget(runtime.redis, host, pid)
        log.info("worker process stopped")


def _stop_on_signals(pool: Pool) -> None:
    """SIGTERM or Ctrl-C: finish the jobs in hand and stop; Ctrl-C again stops at once (leases
    bring any row in hand back later). A repeated SIGTERM (to the whole process group, and
    from the parent to its copies) changes nothing."""

    def handle(signum: int, _frame: object) -> None:
        if pool.stop.is_set():
            if signum == signal.SIGINT:
                log.warning("stopping now (Ctrl-C again)")
                raise SystemExit(1)
            return
        log.info("stopping after the jobs in hand (%s)", signal.Signals(signum).name)
        pool.request_stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
