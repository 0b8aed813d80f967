"""What every piece of work gets from the process that runs it: one database session, and the
services behind it (settings, clock, engine, Redis, WeCom clients, queues).

`Services` is what a process provides (bot.runtime.Runtime is the one implementation); code
below bot/ sees only this protocol, so it never reaches for a process-wide runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import redis
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.clock import Clock
from crm.config import Settings
from wecom.client import WeComClient

log = logging.getLogger(__name__)

REALTIME = "realtime"  # welcomes, replies, everything a person is waiting for
INBOUND = "inbound"  # the rest of a callback whose deadline part ran on realtime
BULK = "bulk"  # SOP sends and other mass work
QUEUE_NAMES = (REALTIME, INBOUND, BULK)  # a worker serves a queue only when those before are empty


class Services(Protocol):
    settings: Settings
    clock: Clock
    engine: Engine
    redis: redis.Redis

    def wecom(self, secret: str = "app") -> WeComClient:
        """The client for one of the corp's secrets: "app", "contact" or "kf"."""
        ...

    def enqueue(self, queue: str, func: Callable[..., Any], *args: Any, **options: Any) -> None:
        """Queue a job `func(ctx, *args)`; options: rq's (job_timeout, result_ttl …)."""
        ...

    def enqueue_many(self, queue: str, func: Callable[..., Any], args: list[tuple]) -> None:
        """Queue one job per argument tuple, in one round trip."""
        ...


@dataclass
class Context:
    """The session commits together with whatever the work marks done (handlers may commit
    earlier, before a side effect that must not be repeated)."""

    session: Session
    services: Services
    received_at: datetime | None = None  # when mombot received the callback being handled
    warnings: list[str] = field(default_factory=list)  # optional parts that failed
    notes: list[str] = field(default_factory=list)  # what the work did, for its one log line

    def note(self, message: str) -> None:
        """What the work did, in a few words: the worker logs it as the event's one line."""
        self.notes.append(message)

    def warn(self, message: str) -> None:
        """An optional part of the work failed and the rest went on: logged, and kept on the
        callback being handled (`mombot events list` shows it)."""
        log.warning(message)
        self.warnings.append(message)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def redis(self) -> redis.Redis:
        return self.services.redis

    def wecom(self, secret: str = "app") -> WeComClient:
        return self.services.wecom(secret)
