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
from pathlib import Path

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


def slot_name(host: str, pid: int, index: int, suffix: str) -> str:
    """The rq worker name of a slot of the process (host, pid): jobs carry it while started."""
    return f"{host}.{pid}.{index}.{suffix}"


def process_of(slot: str) -> tuple[str, int] | None:
    """(host, pid) of a slot_name; None for a name not made by slot_name."""
    parts = slot.rsplit(".", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def gone(host: str, pid: int, live: set[tuple[str, int]]) -> bool:
    """Whether the worker process (host, pid) has died: on this host its pid says so at once;
    elsewhere, its beat stopped (`live`: (host, pid) of `alive`)."""
    if host == socket.gethostname():
        return not _running(pid)
    return (host, pid) not in live


def _running(pid: int) -> bool:
    """Whether the pid is a live process (a zombie is not: killed, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self").exists() and _signalable(pid)
    except OSError:
        return _signalable(pid)
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # none, or someone else's now
        return False
    return True


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
