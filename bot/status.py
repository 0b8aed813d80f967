"""`mombot status`: is mombot keeping up? One screen for operators, read-only.

Redis: its state (embedded and running, with its pid; not running; external, by host), the
queues (waiting, scheduled, running, failed jobs), the workers alive (their heartbeats) and
when the SOP tick last ran. The database: the inbox by status and its oldest unfinished
callback, what failed (callbacks, SOP tasks), and when the next SOP task falls due. Nothing is
started, migrated or cleaned up: a Redis that is down is reported as down, and the database
part is shown all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import redis as redis_lib
from rq import Queue
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot import heartbeat, redis_conn
from bot.text import table
from crm.config import Settings
from crm.context import QUEUE_NAMES
from store import db, inbox, sop_tasks
from store.models import InboxStatus, TaskStatus

TICK_KEYS = "mombot:sop:tick:*"  # one per minute a worker ticked (bot.ticker.sop_tick), 3 min


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)

    def section(self, rows: list[tuple[str, ...]]) -> None:
        if len(self.lines) > 1:  # a blank line between sections, none under the title
            self.lines.append("")
        self.lines += table(rows)


def ago(moment: datetime, now: datetime) -> str:
    """12 s ago, in 5 min, 2 h 3 min ago …"""
    seconds = int((now - moment).total_seconds())
    span = _span(abs(seconds))
    return f"{span} ago" if seconds >= 0 else f"in {span}"


def _span(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def _when(moment: datetime, now: datetime, tz) -> str:
    return f"{moment.astimezone(tz).isoformat(timespec='seconds')} ({ago(moment, now)})"


def report(settings: Settings, now: datetime) -> list[str]:
    out = Report([f"mombot status at {now.isoformat(timespec='seconds')}"])
    client, redis_state = _redis(settings)
    url = make_url(db.normalise_url(settings.database_url)).render_as_string(hide_password=True)
    out.section([("database", url), ("redis", redis_state)])
    failed_jobs = None
    if client is not None:
        failed_jobs = _queues(out, client)
        _workers(out, client, now, settings)
    _database(out, settings, now, failed_jobs, client)
    if client is not None:
        client.close()
    return out.lines


def _redis(settings: Settings) -> tuple[redis_lib.Redis | None, str]:
    """A client if Redis answers (never starting the embedded one), and what to say of it."""
    if settings.redis.url:
        parts = urlsplit(settings.redis.url)
        where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
        client = redis_conn.connect(settings.redis.url, settings.data_path)
        label = f"external, {parts.scheme}://{where}"
    else:
        client = redis_conn.embedded_client(settings.data_path)
        label = "embedded"
    try:
        client.ping()
    except (redis_lib.ConnectionError, redis_lib.TimeoutError, OSError) as exc:
        client.close()
        if not settings.redis.url:
            return None, ("embedded, not running (`mombot worker` or `mombot serve` starts it; "
                          f"data in {settings.data_path})")  # fmt: skip
        return None, f"{label}: NOT REACHABLE ({exc}); queue and worker figures unavailable"
    if settings.redis.url:
        return client, f"{label}, reachable"
    pid_file = Path(settings.data_path) / "redis.pid"
    pid = pid_file.read_text().strip() if pid_file.exists() else "?"
    return client, f"embedded, running (pid {pid}, in {settings.data_path})"


def _queues(out: Report, client: redis_lib.Redis) -> int:
    """The queues table; returns the failed jobs in all of them."""
    rows = [("queue", "waiting", "scheduled", "running", "failed")]
    failed = 0
    for name in QUEUE_NAMES:
        queue = Queue(name, connection=client)
        counts = [queue.count] + [
            registry.get_job_count(cleanup=False)  # read-only: no cleanup
            for registry in (queue.scheduled_job_registry, queue.started_job_registry,
                             queue.failed_job_registry)
        ]  # fmt: skip
        failed += counts[-1]
        rows.append((name, *map(str, counts)))
    out.section(rows)
    return failed


def _workers(out: Report, client: redis_lib.Redis, now: datetime, settings: Settings) -> None:
    beats = heartbeat.alive(client)
    if not beats:
        out.section([("workers", "none alive: nothing handles callbacks or SOP tasks now")])
    else:
        rows = [("worker", "pid", "since", "busy", "last beat")]
        for beat in beats:
            since = datetime.fromisoformat(beat.started_at).astimezone(settings.tz)
            last = ago(datetime.fromisoformat(beat.at), now)
            rows.append((beat.host, str(beat.pid), since.isoformat(timespec="seconds"),
                         f"{beat.busy}/{beat.concurrency}", last))  # fmt: skip
        out.section(rows)


def _last_tick(client: redis_lib.Redis, settings: Settings, now: datetime) -> str:
    minutes = [key.decode().rsplit(":", 1)[-1] for key in client.scan_iter(TICK_KEYS, count=100)]
    if not minutes:
        return "last tick: none in the last 3 minutes"
    last = datetime.strptime(max(minutes), "%Y%m%d%H%M").replace(tzinfo=settings.tz)
    return f"last tick {last.isoformat(timespec='minutes')} ({ago(last, now)})"


def _database(out: Report, settings: Settings, now: datetime, failed_jobs: int | None,
              client: redis_lib.Redis | None) -> None:  # fmt: skip
    tz = settings.tz
    url = make_url(db.normalise_url(settings.database_url))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        out.section([("database", f"none yet at {url.database} (`mombot db upgrade` makes it)")])
        return
    engine = db.make_engine(settings.database_url, settings.database.sqlite_synchronous)
    try:
        with engine.connect() as connection:
            counts = inbox.counts_by_status(connection)
            oldest = inbox.oldest_pending(connection)
            next_due, pending = sop_tasks.next_due(connection)
            failed_tasks = sop_tasks.count_status(connection, TaskStatus.FAILED)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        hint = " (`mombot db upgrade`?)" if "table" in reason else ""
        out.section([("database", f"NOT READABLE: {reason}{hint}")])
        return
    finally:
        engine.dispose()
    order = {status.value: n for n, status in enumerate(InboxStatus)}
    ranked = sorted(counts, key=lambda status: (order.get(status, len(order)), status))
    shown = ", ".join(f"{status} {counts[status]}" for status in ranked)
    waiting = "none"
    if oldest is not None:
        waiting = f"#{oldest.id} {oldest.status}, in since {_when(oldest.received_at, now, tz)}"
    jobs = "?" if failed_jobs is None else str(failed_jobs)
    failed = (f"callbacks {counts.get(InboxStatus.FAILED, 0)} (mombot events list --status "
              f"failed), rq jobs {jobs}, SOP tasks {failed_tasks} (mombot sop status)")  # fmt: skip
    sop = f"{pending} pending"
    sop += f", next due {_when(next_due, now, tz)}" if next_due else ", none due"
    if client is not None:
        sop += f"; {_last_tick(client, settings, now)}"
    out.section([("inbox", shown or "empty"), ("oldest unfinished", waiting),
                 ("failed", failed), ("SOP", sop)])  # fmt: skip
