"""Worker heartbeats in Redis: who is alive, since when, how busy.

Every `mombot worker` process writes one key every INTERVAL seconds that expires after TTL;
a worker that dies (or loses Redis) drops out within TTL. `/healthz` and `mombot status` read
them.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass

import redis

PREFIX = "mombot:worker:"
INTERVAL = 5.0
TTL = 15


@dataclass(frozen=True)
class Beat:
    host: str
    pid: int
    started_at: str  # ISO, with offset
    concurrency: int
    busy: int  # jobs in hand at the last beat
    at: str  # ISO, with offset: when this beat was written


def key(host: str, pid: int) -> str:
    return f"{PREFIX}{host}:{pid}"


def me() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def beat(connection: redis.Redis, state: Beat) -> None:
    connection.set(key(state.host, state.pid), json.dumps(asdict(state)), ex=TTL)


def forget(connection: redis.Redis, host: str, pid: int) -> None:
    """A worker that stops cleanly leaves at once rather than after TTL."""
    connection.delete(key(host, pid))


def alive(connection: redis.Redis) -> list[Beat]:
    """The workers that beat within TTL, oldest first."""
    keys = sorted(connection.scan_iter(match=f"{PREFIX}*", count=100))
    values = connection.mget(keys) if keys else []
    beats = [Beat(**json.loads(value)) for value in values if value]
    return sorted(beats, key=lambda b: b.started_at)
