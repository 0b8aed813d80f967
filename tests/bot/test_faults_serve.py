"""serve under faults: a stalled or killed Redis, stale or slow callbacks, a worker-less
health check, and serve's own processes (children dying with the parent, a busy port)."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta

import aiohttp
import httpx
import pytest
from rq import Queue

from bot import heartbeat, relay, server
from bot import runtime as runtime_module
from bot.server import INGESTOR, create_app, handler_options
from crm.config import write as write_config
from crm.context import REALTIME
from store import inbox
from tests.support import (
    AES_KEY,
    APP_SECRET,
    CORP_ID,
    TOKEN,
    TZ,
    RedisServer,
    free_port,
    make_settings,
)
from wecom.crypto import WeComCrypto
from wecom.sandbox.driver import contact_event, to_xml

CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=TZ)  # the clock fixture's
ANSWER_WITHIN = aiohttp.ClientTimeout(total=3)  # well inside WeCom's 5 s


def signed(external: str, timestamp: str | None = None) -> tuple[dict, str]:
    plain = to_xml(contact_event("add_external_contact", CORP_ID, "zhangsan", external,
                                 1700000000, State="xhs", WelcomeCode="WC"))  # fmt: skip
    timestamp = timestamp or str(int(NOW.timestamp()))
    encrypted = CRYPTO.encrypt(plain)
    params = {
        "msg_signature": CRYPTO.sign(timestamp, "n1", encrypted),
        "timestamp": timestamp,
        "nonce": "n1",
    }
    return params, f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt>{encrypted}</Encrypt></xml>"


def counts(runtime) -> dict[str, int]:
    with runtime.engine.connect() as connection:
        return inbox.counts_by_status(connection)


def rows_on_the_queue(runtime) -> set[int]:
    return {row for job in Queue(REALTIME, connection=runtime.redis).jobs for row in job.args}


def all_row_ids(runtime) -> set[int]:
    with runtime.engine.connect() as connection:
        return {row[0] for row in connection.exec_driver_sql("SELECT id FROM inbound_events")}


def ids_with(runtime, status: str) -> set[int]:
    with runtime.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT id FROM inbound_events WHERE status = ?", (status,)
        )
        return {row[0] for row in rows}


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, to stall and kill."""
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    yield redis_server
    if redis_server.process and redis_server.process.poll() is None:
        redis_server.process.send_signal(signal.SIGCONT)
    redis_server.stop()


@pytest.fixture
async def faulty(aiohttp_client, tmp_path, clock, own_redis):
    """serve's app on SQLite and a Redis the test can stall or kill."""
    settings = make_settings(tmp_path, redis={"url": own_redis.url})
    rt = runtime_module.build(settings, clock)
    client = await aiohttp_client(create_app(rt))
    yield rt, client, own_redis
    await client.close()
    rt.close()


async def post_all(client, externals) -> list[int]:
    async def one(external: str) -> int:
        params, body = signed(external)
        response = await client.post(
            "/wecom/callback", params=params, data=body, timeout=ANSWER_WITHIN
        )
        return response.status

    return list(await asyncio.gather(*(one(e) for e in externals)))


async def test_a_stalled_redis_delays_no_acknowledgement(faulty):
    rt, client, redis_server = faulty
    redis_server.process.send_signal(signal.SIGSTOP)
    # the first wave meets the enqueue's timeout, the second the backoff after it
    assert await post_all(client, [f"wmA{i}" for i in range(10)]) == [200] * 10
    assert await post_all(client, [f"wmB{i}" for i in range(10)]) == [200] * 10
    assert await client.app[INGESTOR].settled()
    assert counts(rt) == {"received": 20}  # stored, and left to the relay

    redis_server.process.send_signal(signal.SIGCONT)
    assert relay.relay_once(rt) == 20
    assert counts(rt) == {"queued": 20}
    # every row is on the queue (a job the stalled Redis took in may be there too: handling
    # is once per row whatever the queue delivers twice)
    assert rows_on_the_queue(rt) == all_row_ids(rt)


async def test_a_killed_redis_loses_no_callback(faulty, clock):
    rt, client, redis_server = faulty
    assert await post_all(client, [f"wmA{i}" for i in range(5)]) == [200] * 5
    assert await client.app[INGESTOR].settled()
    redis_server.process.kill()
    redis_server.process.wait()
    assert await post_all(client, [f"wmB{i}" for i in range(5)]) == [200] * 5
    assert await client.app[INGESTOR].settled()
    assert counts(rt) == {"queued": 5, "received": 5}

    redis_server.start()  # empty: the first five's jobs went with the old one
    received = ids_with(rt, "received")
    assert relay.relay_once(rt) == 5
    assert rows_on_the_queue(rt) == received
    clock.advance(seconds=rt.settings.worker.requeue_after_seconds + 1)
    assert relay.relay_once(rt) == 5  # queued too long, and no job for them: queued again
    assert rows_on_the_queue(rt) == all_row_ids(rt)


async def test_a_job_lost_from_its_queue_is_queued_again(faulty, clock):
    """A job can say "queued" with no queue holding it (a worker killed while waiting for
    one: Redis may hand it the job before it notices the worker is gone). Its rows are
    queued again once they have waited requeue_after, like rows with no job at all."""
    rt, client, _ = faulty
    assert await post_all(client, [f"wmL{i}" for i in range(5)]) == [200] * 5
    assert await client.app[INGESTOR].settled()
    rt.redis.delete(Queue(REALTIME, connection=rt.redis).key)  # the job hashes stay "queued"
    assert relay.relay_once(rt) == 0  # not waiting for long yet
    clock.advance(seconds=rt.settings.worker.requeue_after_seconds + 1)
    assert relay.relay_once(rt) == 5
    assert rows_on_the_queue(rt) == all_row_ids(rt)


async def test_healthz_answers_while_redis_is_stalled(faulty):
    _, client, redis_server = faulty
    redis_server.process.send_signal(signal.SIGSTOP)
    response = await client.get("/healthz", timeout=aiohttp.ClientTimeout(total=4))
    assert response.status == 503
    body = await response.json()
    assert body["redis"] == "unreachable: TimeoutError" and body["workers"] is None
    assert body["database"] == "ok"


async def test_healthz_is_503_without_a_live_worker(aiohttp_client, runtime):
    client = await aiohttp_client(create_app(runtime))
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["workers"] == 0
    at = NOW.isoformat()
    heartbeat.beat(runtime.redis, heartbeat.Beat("host", 42, at, 16, 0, at))
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["workers"] == 1


@pytest.mark.parametrize(
    ("moment", "status", "says"),
    [
        (NOW - timedelta(seconds=86401), 403, "old"),
        (NOW + timedelta(seconds=86401), 403, "in the future"),
        (NOW - timedelta(seconds=86000), 200, ""),  # a retry within the day is fine
        ("abc", 400, "not a number"),
        ("１７００", 400, "not a number"),  # full-width digits
        ("-5", 400, "not a number"),
    ],
)
async def test_callback_timestamp_must_be_fresh(faulty, moment, status, says):
    rt, client, _ = faulty
    timestamp = moment if isinstance(moment, str) else str(int(moment.timestamp()))
    params, body = signed("wmA", timestamp)
    response = await client.post("/wecom/callback", params=params, data=body)
    assert response.status == status
    assert says in await response.text()
    assert sum(counts(rt).values()) == (status == 200)


async def test_timestamp_check_can_be_switched_off(aiohttp_client, tmp_path, clock, redis_server):
    settings = make_settings(
        tmp_path, redis={"url": redis_server.url}, wecom={"callback_max_age_seconds": 0}
    )
    rt = runtime_module.build(settings, clock)
    client = await aiohttp_client(create_app(rt))
    try:
        params, body = signed("wmA", "1476416373")  # 2016
        response = await client.post("/wecom/callback", params=params, data=body)
        assert response.status == 200
    finally:
        await client.close()
        rt.close()


@pytest.fixture
async def slow_server(aiohttp_server, tmp_path, clock, redis_server):
    settings = make_settings(
        tmp_path, redis={"url": redis_server.url}, server={"read_timeout_seconds": 0.3}
    )
    rt = runtime_module.build(settings, clock)
    app_server = await aiohttp_server(create_app(rt), **handler_options(settings))
    yield app_server
    await app_server.close()
    rt.close()


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """What the server sends until it hangs up (5 s at most: far beyond the timeout)."""
    return await asyncio.wait_for(reader.read(), 5)


async def test_a_body_that_trickles_gets_408_and_is_cut_off(slow_server):
    reader, writer = await asyncio.open_connection(slow_server.host, slow_server.port)
    params, body = signed("wmA")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    writer.write(
        f"POST /wecom/callback?{query} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body[:20]}".encode()
    )
    await writer.drain()  # and then nothing more
    answer = await read_all(reader)
    assert answer.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_headers_that_trickle_are_cut_off(slow_server):
    reader, writer = await asyncio.open_connection(slow_server.host, slow_server.port)
    writer.write(b"POST /wecom/callback HTTP/1.1\r\nHost: x\r\n")  # no end of headers
    await writer.drain()
    assert await read_all(reader) == b""  # closed
    writer.close()


async def test_an_idle_connection_is_closed(slow_server):
    reader, writer = await asyncio.open_connection(slow_server.host, slow_server.port)
    assert await read_all(reader) == b""
    writer.close()


# serve's processes ------------------------------------------------------------------------


def mombot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def poll(check, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)  # waiting for other processes, not for time to pass


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()  # noqa: SIM115
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is not)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_free(port: int) -> bool:
    try:
        server.check_address("127.0.0.1", port)
        return True
    except server.PortBusy:
        return False


@pytest.fixture
def serve_config(tmp_path, redis_server):
    port = free_port()
    path = write_config(
        tmp_path / "config.toml",
        {
            "data_dir": str(tmp_path / "data"),
            "wecom": {"corp_id": CORP_ID, "agent_id": 1000002, "secret": APP_SECRET,
                      "token": TOKEN, "encoding_aes_key": AES_KEY},
            "redis": {"url": redis_server.url},
            "server": {"port": port, "processes": 2},
        },
    )  # fmt: skip
    return path, port


def test_serve_children_die_with_a_killed_parent(serve_config):
    path, port = serve_config
    parent = subprocess.Popen(
        mombot("--config", str(path), "serve"),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: list[int] = []
    try:

        def answering() -> bool:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                return True
            except httpx.TransportError:
                return False

        poll(answering, 30)
        children = children_of(parent.pid)
        assert len(children) == 1
        parent.kill()
        parent.wait()
        poll(lambda: not any(alive(child) for child in children))
        poll(lambda: port_free(port))
    finally:
        for pid in [parent.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_serve_refuses_a_busy_port_before_starting_anything(tmp_path, redis_server):
    port = free_port()
    settings = make_settings(tmp_path, redis={"url": redis_server.url})
    busy = f"port {port} on 127.0.0.1 is already in use"
    with socket.create_server(("127.0.0.1", port)), pytest.raises(server.PortBusy, match=busy):
        server.serve(settings, "127.0.0.1", port)
    assert not (tmp_path / "data").exists()  # nothing was started, not even the database


@pytest.mark.parametrize(
    ("host", "port", "says"),
    [
        ("no-such-host.invalid", 8080, "cannot listen on host 'no-such-host.invalid'"),
        ("127.0.0.1", 70000, "port 70000 is not a port number"),
        ("192.0.2.1", 8080, "192.0.2.1 is not an address of this machine"),
    ],
)
def test_bad_addresses_are_clear_errors(host, port, says):
    with pytest.raises(server.ServeError, match=says):
        server.check_address(host, port)


def test_a_second_serve_on_a_busy_port_exits_1_saying_why(serve_config):
    path, port = serve_config
    with socket.create_server(("127.0.0.1", port)):
        result = subprocess.run(
            mombot("--config", str(path), "serve"), capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert result.stderr == f"mombot: serve: port {port} on 127.0.0.1 is already in use\n"
    assert "Traceback" not in result.stderr


async def test_a_flood_of_refusals_is_one_log_line(faulty, caplog):
    _, client, _ = faulty
    for _ in range(5):
        params, body = signed("wmA")
        params["msg_signature"] = "0" * 40
        assert (await client.post("/wecom/callback", params=params, data=body)).status == 403
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused POST")]
    assert len(refusals) <= 1  # at most one per 10 s (one may have been logged just before)


async def test_a_declared_oversize_body_is_413_unread(faulty):
    _, client, _ = faulty
    params, _ = signed("wmA")

    async def endless():  # Content-Length says 2 MiB; only a start of it ever comes
        yield b"<xml>"
        await asyncio.Event().wait()

    headers = {"Content-Length": str(2 * 1024 * 1024)}
    response = await client.post(
        "/wecom/callback", params=params, data=endless(), headers=headers, timeout=ANSWER_WITHIN
    )
    assert response.status == 413
