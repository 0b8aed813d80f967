"""`mombot worker`: an rq worker on the realtime then bulk queues, rq's scheduler, and the
ticker (the relay every second, the SOP tick every minute, the daily stage refresh).

It is a non-forking worker: heavy one-time set-up (database engine, migrations, handler
registry, the jieba dictionary) happens once per process, not once per job. Every job is a
function `job(ctx, *args)`: the worker gives it a Context on a fresh session. A job that
outlives its timeout is interrupted; a worker that dies mid-job leaves a lease that expires,
after which the relay queues the event again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rq import Queue, SimpleWorker
from rq.job import Job

import handlers
from bot import relay, ticker
from bot.runtime import Runtime
from crm import dates
from crm.context import QUEUE_NAMES

log = logging.getLogger(__name__)


class ContextJob(Job):
    """A job whose function is called with the worker's Context first."""

    runtime: Runtime | None = None  # set by the worker just before it performs the job

    def _execute(self) -> Any:
        if self.runtime is None:
            raise RuntimeError(f"job {self.id} has no runtime: run it with mombot's Worker")
        with self.runtime.context() as ctx:
            return self.func(ctx, *self.args, **self.kwargs)


class Worker(SimpleWorker):
    job_class = ContextJob

    def __init__(self, queues: list[Queue], runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(queues, connection=runtime.redis, **kwargs)
        self.runtime = runtime

    def perform_job(self, job: Job, queue: Queue) -> bool:
        job.runtime = self.runtime
        return super().perform_job(job, queue)


def run(runtime: Runtime, burst: bool = False) -> bool:
    """Work until stopped (or, with burst, until the queues are empty); True if any job ran."""
    handlers.load()
    dates.initialise()  # jieba's dictionary: once per worker process, not once per message
    relay.relay_once(runtime)  # whatever waited while no worker was running
    stop = threading.Event()
    ticker_thread = threading.Thread(
        target=ticker.run_forever, args=(runtime, stop), name="ticker", daemon=True
    )
    if not burst:
        ticker_thread.start()
    worker = Worker([runtime.queue(name) for name in QUEUE_NAMES], runtime)
    try:
        return worker.work(
            burst=burst,
            with_scheduler=not burst,
            logging_level=runtime.settings.logging.level,
        )
    finally:
        stop.set()
