"""POST /api/leads's writer: the leads of the requests waiting are written together.

Each request is read on its own (`handlers.intake.read`); its lead then waits for the writer
thread, which writes whatever has gathered in one transaction (group commit,
`handlers.intake.post_leads`) and answers each request. At low load a batch is one request,
written at once. Under load a batch costs a few statements whatever its size, so the intake
keeps up where a transaction per request would queue on the database's writer lock.

On SQLite the serve processes' writers take turns (`store.db.file_lock`), and a writer takes
its batch once it has its turn: what arrived while another process wrote goes in with it, and
no intake writer sleeps in SQLite's busy handler waiting for another. A batch that fails is
written again a request at a time, so one request's fault stays its own; unless the database
itself failed (locked or unreachable), which fails the batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.exc import OperationalError

from bot.runtime import Runtime
from crm.context import Context
from handlers.intake import Reply, Sent, post_leads
from store import db

log = logging.getLogger(__name__)

MAX_BATCH = 100  # requests in one transaction, which holds the writer lock about 0.1 s then

Waiting = tuple[Sent, asyncio.Future[Reply]]


class IntakeWriter:
    def __init__(
        self, runtime: Runtime, write: Callable[[list[Sent], Context], list[Reply]] = post_leads
    ) -> None:
        self._runtime = runtime
        self._post = write
        self._lock = threading.Lock()  # over _waiting and _running
        self._waiting: list[Waiting] = []
        self._running = False
        self._writer: asyncio.Future[None] | None = None

    async def submit(self, sent: Sent) -> Reply:
        """Her lead written (or found written before, for a retry): the request's answer.
        Raises when the database keeps failing it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        with self._lock:
            self._waiting.append((sent, future))
            start, self._running = not self._running, True
        if start:
            self._writer = loop.run_in_executor(None, self._write_waiting, loop)
        return await future

    async def stop(self) -> None:
        """Wait for the leads handed over so far to be written."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    def _write_waiting(self, loop: asyncio.AbstractEventLoop) -> None:
        """The writer thread: batches until nothing waits. Should the lock file fail (a full
        disk, a folder made read-only), the requests waiting fail with it, and the next
        request starts a writer afresh."""
        batch: list[Waiting] = []
        try:
            while True:
                with db.file_lock(self._runtime.engine, "intake"):
                    batch = self._take()
                    if not batch:
                        return
                    loop.call_soon_threadsafe(_answer, batch, self._write([s for s, _ in batch]))
                    batch = []
        except Exception as exc:
            log.error("the intake writer failed: %s", exc)
            with self._lock:
                batch, self._waiting, self._running = batch + self._waiting, [], False
            loop.call_soon_threadsafe(_answer, batch, [exc] * len(batch))

    def _take(self) -> list[Waiting]:
        """The next batch, in order of arrival, one request per Idempotency-Key (a key's second
        request waits for the next batch, and the first's answer); none, and the writer done,
        when nothing waits."""
        with self._lock:
            batch: list[Waiting] = []
            later: list[Waiting] = []
            keys: set[str] = set()
            for waiting in self._waiting:
                key = waiting[0].request.key
                if len(batch) == MAX_BATCH or key in keys:
                    later.append(waiting)
                    continue
                batch.append(waiting)
                if key is not None:
                    keys.add(key)
            self._waiting, self._running = later, bool(batch)
            return batch

    def _write(self, sent: list[Sent]) -> list[Reply | Exception]:
        try:
            with self._runtime.context() as ctx:
                return list(self._post(sent, ctx))
        except OperationalError as exc:  # the database itself (locked, unreachable): for all
            return [exc] * len(sent)
        except Exception as exc:
            if len(sent) == 1:
                return [exc]
            log.warning("%d leads could not be written together (%s); writing them one by one",
                        len(sent), type(exc).__name__)  # fmt: skip
            return [self._write([one])[0] for one in sent]


def _answer(batch: list[Waiting], results: Sequence[Reply | Exception]) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():  # its client hung up; the lead is written all the same
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)
