"""`mombot worker`: an rq worker on the realtime then bulk queues, rq's scheduler, and the
ticker (the relay every second, the daily stage refresh).

It is a non-forking worker: heavy one-time set-up (database engine, migrations, handler
registry, the jieba dictionary) happens once per process, not once per job. A job that
outlives its timeout is interrupted; a worker that dies mid-job leaves a lease that expires,
after which the relay queues the event again.
"""

from __future__ import annotations

import logging
import threading

from rq import SimpleWorker

import handlers
from bot import relay, ticker
from bot import runtime as runtime_module
from bot.runtime import QUEUE_NAMES, Runtime
from handlers import dates

log = logging.getLogger(__name__)


def run(runtime: Runtime, burst: bool = False) -> bool:
    """Work until stopped (or, with burst, until the queues are empty); True if any job ran."""
    handlers.load()
    dates.initialise()  # jieba's dictionary: once per worker process, not once per message
    runtime_module.install(runtime)
    relay.relay_once(runtime)  # whatever waited while no worker was running
    stop = threading.Event()
    ticker_thread = threading.Thread(
        target=ticker.run_forever, args=(runtime, stop), name="ticker", daemon=True
    )
    if not burst:
        ticker_thread.start()
    worker = SimpleWorker([runtime.queue(name) for name in QUEUE_NAMES], connection=runtime.redis)
    try:
        return worker.work(
            burst=burst,
            with_scheduler=not burst,
            logging_level=runtime.settings.logging.level,
        )
    finally:
        stop.set()
