"""The real commands as separate processes: embedded Redis shared by `serve` and `worker`,
callbacks signed and encrypted as WeCom does, the CLI an operator uses."""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from multiprocessing import get_context

import httpx
import pytest

from crm.config import write as write_config
from tests.support import AES_KEY, APP_SECRET, CORP_ID, TOKEN, free_port
from wecom.crypto import WeComCrypto
from wecom.sandbox.driver import CallbackDriver, contact_event


def mombot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


@contextmanager
def running(*args: str):
    process = subprocess.Popen(
        mombot(*args), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)


def wait_until(check, seconds=30):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)  # waiting for other processes, not for time to pass


@pytest.fixture
def config_file(tmp_path, sandbox):
    # a short data_dir keeps the embedded Redis unix socket path short
    data_dir = f"/tmp/mb-e2e-{os.getpid()}-{free_port()}"
    port = free_port()
    path = write_config(
        tmp_path / "config.toml",
        {
            "data_dir": data_dir,
            "wecom": {
                "corp_id": CORP_ID,
                "agent_id": 1000002,
                "secret": APP_SECRET,
                "token": TOKEN,
                "encoding_aes_key": AES_KEY,
                "api_base": sandbox.url,
            },
            "server": {"port": port, "processes": 2},
        },
    )
    yield path, port
    subprocess.run(mombot("--config", str(path), "redis", "stop"), capture_output=True)
    subprocess.run(["rm", "-rf", data_dir])


def test_serve_and_worker_share_the_embedded_redis(config_file, sandbox):
    path, port = config_file
    base = f"http://127.0.0.1:{port}"
    with (
        running("--config", str(path), "worker"),
        running("--config", str(path), "serve"),
        httpx.Client(timeout=5) as client,
    ):

        def up():
            try:
                return client.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up)
        health = client.get(f"{base}/healthz").json()
        assert health["database"] == "ok" and health["redis"] == "ok"
        driver = CallbackDriver(
            WeComCrypto(TOKEN, AES_KEY, CORP_ID), CORP_ID, f"{base}/wecom/callback", client
        )
        assert driver.verify_url()
        follow = sandbox.state.befriend("zhangsan", "小雨", "xhs")
        fields = contact_event(
            "add_external_contact",
            CORP_ID,
            "zhangsan",
            follow.external_userid,
            follow.createtime,
            State="xhs",
        )
        assert driver.post(fields).status_code == 200
        assert driver.post(fields).status_code == 200  # WeCom's retry

        def settled():
            return client.get(f"{base}/healthz").json()["inbox"] == {"done": 1}

        wait_until(settled)
    listing = subprocess.run(
        mombot("--config", str(path), "events", "list"), capture_output=True, text=True, check=True
    )
    out = listing.stdout
    assert "done" in out and "change_external_contact/add_external_contact" in out
    assert json.loads(out.strip().splitlines()[-1]) == {"done": 1}
    assert len(sandbox.state.calls_to("externalcontact/get")) == 1


def _token_in_new_process(api_base: str, redis_url: str, barrier, results) -> None:
    import redis

    from wecom.client import WeComClient

    client = WeComClient(
        api_base=api_base, corp_id=CORP_ID, secret=APP_SECRET, redis=redis.Redis.from_url(redis_url)
    )
    barrier.wait()
    results.put(client.access_token())


def test_two_processes_refreshing_at_once_make_one_gettoken_call(sandbox, redis, redis_server):
    gate = sandbox.state.hold("gettoken")  # the first refresh stays in flight
    context = get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [
        context.Process(
            target=_token_in_new_process, args=(sandbox.url, redis_server.url, barrier, results)
        )
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        wait_until(lambda: sandbox.state.calls_to("gettoken"))
        time.sleep(0.3)  # the other process meanwhile finds the refresh lock taken and waits
        gate.set()
        tokens = {results.get(timeout=30) for _ in processes}
    finally:
        for process in processes:
            process.join(10)
    assert len(tokens) == 1
    assert len(sandbox.state.calls_to("gettoken")) == 1


def test_demo_runs_end_to_end(tmp_path):
    result = subprocess.run(mombot("demo"), capture_output=True, text=True, timeout=180,
                            cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "演示完成" in result.stdout
    shot = tmp_path / "mombot-demo" / "sidebar-xiaoyu.png"  # Chromium is there for the tests
    assert f"小雨的侧边栏截图：{shot}" in result.stdout
    assert shot.read_bytes().startswith(b"\x89PNG")
    dashboard = tmp_path / "mombot-demo" / "report-dashboard.png"
    assert f"一张图（报表看板），已存为 {dashboard}" in result.stdout
    assert "王店长收到      经营报表 · 今天" in result.stdout
    assert dashboard.read_bytes().startswith(b"\x89PNG")
