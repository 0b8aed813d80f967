"""The process's wiring: settings, clock, database engine, Redis, queues, WeCom clients.

Built once per process (`build`); it is the `crm.context.Services` that every handler and job
works with, through the `Context` it hands out (`context`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from rq import Queue
from sqlalchemy.engine import Engine

from bot import redis_conn
from crm.clock import Clock, SystemClock
from crm.config import Settings
from crm.context import Context
from store import db
from wecom.client import WeComClient

RESULT_TTL = 300  # what a job did is in the database; rq's copy of its result need not linger


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    engine: Engine
    redis: redis.Redis
    _clients: dict[str, WeComClient] = field(default_factory=dict)

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self.redis)

    def enqueue(self, queue: str, func: Callable[..., Any], *args: Any, **options: Any) -> None:
        self.queue(queue).enqueue(func, *args, **{"result_ttl": RESULT_TTL, **options})

    def enqueue_many(self, queue: str, func: Callable[..., Any], args: list[tuple]) -> None:
        if args:
            target = self.queue(queue)
            target.enqueue_many([target.prepare_data(func, args=a, result_ttl=RESULT_TTL)
                                 for a in args])  # fmt: skip

    def wecom(self, secret: str = "app") -> WeComClient:
        """The client for one of the corp's secrets: "app", "contact" or "kf"."""
        if secret not in self._clients:
            wecom = self.settings.wecom
            value = {
                "app": wecom.secret.get_secret_value(),
                "contact": wecom.contact_secret_value,
                "kf": wecom.kf_secret_value,
            }[secret]
            self._clients[secret] = WeComClient(
                api_base=wecom.api_base,
                corp_id=wecom.corp_id,
                secret=value,
                redis=self.redis,
                timeout=wecom.timeout_seconds,
                sleep=self.clock.sleep,
            )
        return self._clients[secret]

    @contextmanager
    def context(self, received_at: datetime | None = None) -> Iterator[Context]:
        """A Context on a session of its own, closed afterwards."""
        with db.session(self.engine) as session:
            yield Context(session, self, received_at)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self.engine.dispose()
        self.redis.close()


def build(settings: Settings, clock: Clock | None = None, migrate: bool = True) -> Runtime:
    engine = db.make_engine(
        settings.database_url,
        settings.database.sqlite_synchronous,
        connections=settings.worker.concurrency + 4,  # the slots, the ticker, and a margin
    )
    if migrate:
        db.upgrade(engine)
    connection = redis_conn.connect(settings.redis.url, settings.data_path)
    return Runtime(settings, clock or SystemClock(settings.tz), engine, connection)
