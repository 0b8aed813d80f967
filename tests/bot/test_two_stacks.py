"""Two complete mombot stacks (`serve` + `worker`, real processes, each serve on its own port)
on one PostgreSQL and one Redis, as in production behind a load balancer: WeCom delivers every
callback to both, some twice, interleaved, and still each event is handled once and each
mother welcomed once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from crm.config import write as write_config
from store import db
from tests.support import AES_KEY, APP_SECRET, CHANNELS, CORP_ID, TOKEN, free_port
from wecom.crypto import WeComCrypto
from wecom.sandbox.driver import CallbackDriver, contact_event

pytestmark = pytest.mark.postgres

MOTHERS = 60
DEADLINE = 180  # seconds: generous for a loaded two-core machine; the usual run takes a few


@pytest.fixture
def shared_database(postgres_url):
    """The one PostgreSQL both stacks use, emptied."""
    engine = db.make_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    yield engine
    engine.dispose()


@contextmanager
def running(log: Path, *args: str):
    """`mombot …` as its own process (group), its output in a file (a pipe nobody reads
    would fill up and stall it)."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *args],
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)


def wait_until(check, what: str, logs: list[Path], seconds: float = DEADLINE) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs
            )
            pytest.fail(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.1)  # polling other processes' progress, not waiting for time to pass


def test_two_stacks_on_one_database_and_redis_handle_each_event_once(
    tmp_path, postgres_url, shared_database, redis, redis_server, sandbox
):
    config = write_config(
        tmp_path / "config.toml",
        {
            "data_dir": str(tmp_path / "data"),
            "wecom": {
                "corp_id": CORP_ID,
                "agent_id": 1000002,
                "secret": APP_SECRET,
                "token": TOKEN,
                "encoding_aes_key": AES_KEY,
                "api_base": sandbox.url,
            },
            "server": {"processes": 1},
            "database": {"url": postgres_url},
            "redis": {"url": redis_server.url},
            "channels": CHANNELS,
        },
    )
    ports = [free_port(), free_port()]
    logs = [tmp_path / name for name in ("serve-a", "serve-b", "worker-a", "worker-b")]
    with ExitStack() as stack:
        for port, log in zip(ports, logs[:2], strict=True):
            stack.enter_context(running(log, "--config", str(config), "serve", "--port", str(port)))
        for log in logs[2:]:
            stack.enter_context(running(log, "--config", str(config), "worker"))
        client = stack.enter_context(httpx.Client(timeout=10))
        bases = [f"http://127.0.0.1:{port}" for port in ports]

        def up() -> bool:
            try:
                return all(client.get(f"{base}/healthz").status_code == 200 for base in bases)
            except httpx.TransportError:
                return False

        wait_until(up, "both serves and both workers to be healthy", logs)
        synced = subprocess.run(  # as an operator does before printing the QR codes
            [sys.executable, "-m", "bot.cli", "--config", str(config), "channels", "sync"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert synced.returncode == 0, synced.stderr
        crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
        drivers = [CallbackDriver(crypto, CORP_ID, f"{b}/wecom/callback", client) for b in bases]

        mothers = []  # (external_userid, her add_external_contact callback)
        for n in range(MOTHERS):
            channel = CHANNELS[n % len(CHANNELS)]
            follow = sandbox.state.befriend(channel["advisors"][0], f"妈妈{n}", channel["code"])
            mothers.append((follow.external_userid, contact_event(
                "add_external_contact", CORP_ID, follow.userid, follow.external_userid,
                follow.createtime, State=channel["code"], WelcomeCode=follow.welcome_code,
            )))  # fmt: skip
        # every callback to both stacks (WeCom retrying on the other address), every third
        # a third time, all shuffled and four at a time
        deliveries = [(driver, fields) for _, fields in mothers for driver in drivers]
        deliveries += [(drivers[n % 2], fields) for n, (_, fields) in enumerate(mothers[::3])]
        random.Random(11).shuffle(deliveries)
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda d: d[0].post(d[1]).status_code, deliveries))
        assert answers == [200] * len(deliveries)

        def inbox() -> list:
            with shared_database.connect() as connection:
                return list(connection.execute(text(
                    "SELECT dedupe_key, status, attempts, payload FROM inbound_events"
                )))  # fmt: skip

        def settled() -> bool:
            rows = inbox()
            return len(rows) == MOTHERS and all(row.status == "done" for row in rows)

        wait_until(settled, f"{MOTHERS} inbox rows done", logs)
        rows = inbox()
        assert len({row.dedupe_key for row in rows}) == MOTHERS
        assert Counter(row.attempts for row in rows) == {1: MOTHERS}  # one claim did the work
        for external_userid, _ in mothers:
            assert sum(external_userid in row.payload for row in rows) == 1

        welcomed = Counter(w.external_userid for w in sandbox.state.welcomes)
        assert welcomed == dict.fromkeys((e for e, _ in mothers), 1)
        calls = sandbox.state.calls_to("externalcontact/send_welcome_msg")
        assert len(calls) == MOTHERS and all(call.errcode == 0 for call in calls)
        with shared_database.connect() as connection:
            assert connection.execute(text(
                "SELECT status, count(*) FROM deliveries WHERE kind = 'welcome' GROUP BY status"
            )).all() == [("sent", MOTHERS)]  # fmt: skip
            assert connection.execute(text("SELECT count(*) FROM contacts")).scalar() == MOTHERS
