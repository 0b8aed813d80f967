"""The embedded Redis comes back when it dies (with its data), and only then."""

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from bot import redis_conn


def poll(check, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)  # waiting for another process, not for time to pass


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie waiting for its reaper


@pytest.fixture
def data_dir():
    path = Path(f"/tmp/mb-sup-{os.getpid()}-{time.monotonic_ns()}")  # a short socket path
    yield path
    redis_conn.stop_embedded(path)
    for child in sorted(path.rglob("*"), reverse=True):
        child.unlink() if not child.is_dir() else child.rmdir()
    path.rmdir()


def pid_of(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "redis.pid").read_text())
    except (FileNotFoundError, ValueError):  # not written yet
        return None


def test_a_killed_embedded_redis_is_started_again_with_its_data(data_dir):
    client = redis_conn.connect("", data_dir)
    client.set("mother", "小雨")
    assert not redis_conn.supervise("", data_dir)  # alive: nothing to do
    first = pid_of(data_dir)
    os.kill(first, signal.SIGKILL)
    poll(lambda: gone(first))

    assert redis_conn.supervise("", data_dir)
    assert pid_of(data_dir) != first
    assert client.get("mother").decode() == "小雨"  # from the append-only file
    assert not redis_conn.supervise("", data_dir)


def test_a_stalled_embedded_redis_is_left_alone(data_dir):
    """Not answering is not gone: a second server on its socket would split the data."""
    redis_conn.connect("", data_dir).set("k", "v")
    pid = pid_of(data_dir)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert not redis_conn.supervise("", data_dir)
        redis_conn.ensure_embedded(data_dir).close()  # a process starting meanwhile
        assert pid_of(data_dir) == pid
    finally:
        os.kill(pid, signal.SIGCONT)
    assert redis_conn.connect("", data_dir).get("k") == b"v"


def test_an_external_redis_is_not_ours_to_start(tmp_path):
    assert not redis_conn.supervise("redis://127.0.0.1:9/0", tmp_path)
    assert not (tmp_path / "redis.pid").exists()


def test_clients_time_out_but_the_blocking_one_waits_for_rq(redis_server):
    normal = redis_conn.connect(redis_server.url, Path("/nonexistent"))
    blocking = redis_conn.connect(redis_server.url, Path("/nonexistent"), blocking=True)
    kwargs = normal.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == redis_conn.SOCKET_TIMEOUT
    assert blocking.connection_pool.connection_kwargs["socket_timeout"] is None


async def test_serve_restarts_its_embedded_redis(aiohttp_client, data_dir, monkeypatch, clock):
    from bot import runtime as runtime_module
    from bot import server
    from tests.support import make_settings

    monkeypatch.setattr(server, "SUPERVISE_SECONDS", 0.05)
    settings = make_settings(data_dir.parent, data_dir=str(data_dir))
    rt = runtime_module.build(settings, clock)
    try:
        await aiohttp_client(server.create_app(rt))
        first = pid_of(data_dir)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while pid_of(data_dir) in (first, None):
            assert time.monotonic() < deadline, "not restarted"
            await asyncio.sleep(0.05)  # serve's task runs meanwhile
        assert rt.redis.ping()
    finally:
        rt.close()
