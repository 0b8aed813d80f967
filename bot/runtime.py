"""The process-wide wiring: settings, clock, database engine, Redis, queues, WeCom clients.

Built once per process (`build`), installed for rq jobs (`install` / `current`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import redis
from rq import Queue
from sqlalchemy.engine import Engine

from bot import redis_conn
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.wecom import WeComClient
from store import db

REALTIME = "realtime"  # welcomes, replies, everything a person is waiting for
BULK = "bulk"  # SOP sends and other mass work; served only when realtime is empty
QUEUE_NAMES = (REALTIME, BULK)


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    engine: Engine
    redis: redis.Redis
    _clients: dict[str, WeComClient] = field(default_factory=dict)
    _pid: int = field(default_factory=os.getpid)

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self.redis)

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

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.worker.lease_seconds)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self.engine.dispose()
        self.redis.close()


def build(settings: Settings, clock: Clock | None = None, migrate: bool = True) -> Runtime:
    engine = db.make_engine(settings.database_url, settings.database.sqlite_synchronous)
    if migrate:
        db.upgrade(engine)
    connection = redis_conn.connect(settings.redis.url, settings.data_path)
    return Runtime(settings, clock or SystemClock(settings.tz), engine, connection)


_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no mombot runtime installed in this process")
    if _current._pid != os.getpid():  # forked: never share pooled connections with the parent
        _current.engine.dispose(close=False)
        _current._pid = os.getpid()
    return _current
