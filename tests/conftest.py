from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
from sqlalchemy import text

from bot import config
from bot.clock import ManualClock
from store import db
from tests.servers import PostgresServer, RedisServer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TZ = ZoneInfo("Asia/Shanghai")

# Crypto set A of shared/wecom/vectors.md: the official WXBizMsgCrypt sample.
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"


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
    from bot.sandbox.api import SandboxServer
    from bot.sandbox.state import SandboxState

    server = SandboxServer(SandboxState(CORP_ID, [APP_SECRET], clock, USERS)).start()
    yield server
    server.stop()


@pytest.fixture
def runtime(tmp_path, database_url, redis_server, redis, sandbox, clock):
    """Everything wired as in production: SQLite or PostgreSQL, a real Redis, the sandbox,
    a manual clock."""
    from bot import runtime as runtime_module

    settings = make_settings(
        tmp_path,
        redis={"url": redis_server.url},
        wecom={"api_base": sandbox.url},
        channels=CHANNELS,
        database={"url": database_url},
    )
    rt = runtime_module.build(settings, clock)
    runtime_module.install(rt)
    yield rt
    runtime_module.install(None)
    rt.close()
