"""Shared set-up for the benchmarks: servers on loopback, configs, signed callbacks."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from crm import config
from crm.clock import SystemClock
from store import db
from tests.support import PostgresServer, RedisServer, free_port
from wecom.crypto import WeComCrypto
from wecom.sandbox.api import SandboxServer
from wecom.sandbox.driver import CallbackDriver, contact_event, to_xml
from wecom.sandbox.state import SandboxState

ROOT = Path(__file__).resolve().parents[1]
CORP_ID = "wwbench000000001"
TOKEN = "benchtoken"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP_ID)


SECRET = "bench-secret"


def write_config(
    folder: Path, redis_url: str, api_base: str = "http://127.0.0.1:9", **sections: dict
) -> Path:
    """A config for a benchmark's corp, with its data under folder; sections add or override."""
    return config.write(
        folder / "config.toml",
        {
            "data_dir": str(folder / "data"),
            "wecom": {
                "corp_id": CORP_ID,
                "agent_id": 1000002,
                "secret": SECRET,
                "token": TOKEN,
                "encoding_aes_key": AES_KEY,
                "api_base": api_base,
            },
            "redis": {"url": redis_url},
            "logging": {"level": "WARNING"},
            **sections,
        },
    )


def signed_add_events(count: int, prefix: str) -> list[tuple[str, bytes]]:
    """(query string, body) of `count` distinct add_external_contact callbacks."""
    driver = CallbackDriver(CRYPTO, CORP_ID)
    now = int(time.time())
    out = []
    for i in range(count):
        fields = contact_event(
            "add_external_contact", CORP_ID, "zhangsan", f"wm{prefix}{i:08d}", now,
            State="bench", WelcomeCode=secrets.token_hex(8),
        )  # fmt: skip
        params, body = driver.envelope(to_xml(fields))
        out.append((urlencode(params), body))
    return out


TZ = ZoneInfo("Asia/Shanghai")
ADVISORS = {"zhangsan": "张顾问"}


@dataclass
class Corp:
    """A benchmark's world: a scratch folder, a real Redis, the WeCom sandbox."""

    folder: Path
    redis: RedisServer
    state: SandboxState
    sandbox: SandboxServer


@contextmanager
def sandboxed_corp() -> Iterator[Corp]:
    folder = Path(tempfile.mkdtemp(prefix="mombot-bench-"))
    redis = RedisServer(folder)
    redis.start()
    state = SandboxState(CORP_ID, [SECRET], SystemClock(TZ), dict(ADVISORS))
    sandbox = SandboxServer(state).start()
    try:
        yield Corp(folder, redis, state, sandbox)
    finally:
        sandbox.stop()
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


class Process:
    def __init__(self, args: list[str], log: Path) -> None:
        self._log = open(log, "w")  # noqa: SIM115
        self.popen = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(20)
        self._log.close()


def mombot(folder: Path, config: Path, command: str, *extra: str) -> Process:
    return Process(
        [sys.executable, "-m", "bot.cli", "--config", str(config), command, *extra],
        folder / f"{command}.log",
    )


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL cluster for the run, as the tests start one but with fsync on: its URL."""
    server = PostgresServer(durable=True)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def emptied(url: str) -> str:
    """The database at url with nothing in it (its public schema made anew); the url."""
    engine = db.make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


def wait_http(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


__all__ = ["RedisServer", "free_port"]
