"""`mombot demo`: the whole product, locally, against the WeCom sandbox.

It writes a config for a made-up corp, starts the sandbox, `mombot serve` and `mombot worker`
as real processes (embedded Redis, SQLite, all under a temporary folder), then plays WeCom:
mothers scan channel codes, WeCom retries a callback, a mother deletes her advisor. It prints
what each side saw and the resulting state, and exits 0 when everything came out right.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from bot import redis_conn
from bot.clock import SystemClock
from bot.config import Settings, load
from bot.config import write as write_config
from bot.crypto import WeComCrypto
from bot.sandbox.api import SandboxServer
from bot.sandbox.driver import CallbackDriver, contact_event
from bot.sandbox.state import SandboxState
from store import contacts, inbox
from store.db import make_engine, session

CORP_ID = "wwdemo0000000001"
APP_SECRET = "demo-app-secret-" + "0" * 16
ADVISORS = {"zhangsan": "张顾问", "lisi": "李顾问"}
CHANNELS = [
    ("store-poster", "门店海报", "zhangsan"),
    ("xhs-diaper", "小红书纸尿裤笔记", "lisi"),
    ("hospital-a", "合作医院A", "zhangsan"),
]
MOTHERS = [("小雨", 0), ("阿敏", 1), ("婷婷", 2), ("静静", 1)]
STATUS_LABELS = {"new": "新线索", "lost": "已流失"}
LOST_LABELS = {"customer_deleted": "客户删除了顾问", "advisor_deleted": "顾问删除了客户"}


class DemoFailed(Exception):
    pass


def say(who: str, text: str) -> None:
    print(f"  {who:<16}{text}", flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_config(folder: Path, api_base: str, port: int) -> Path:
    return write_config(
        folder / "config.toml",
        {
            "data_dir": str(folder / "data"),
            "wecom": {
                "corp_id": CORP_ID,
                "agent_id": 1000002,
                "secret": APP_SECRET,
                "token": secrets.token_urlsafe(16),
                "encoding_aes_key": base64.b64encode(secrets.token_bytes(32)).decode()[:43],
                "api_base": api_base,
            },
            "server": {"host": "127.0.0.1", "port": port},
            "logging": {"level": "WARNING"},
            "channels": [{"code": c, "name": n, "tags": [n]} for c, n, _ in CHANNELS],
        },
    )


@contextlib.contextmanager
def _process(name: str, folder: Path) -> Iterator[subprocess.Popen]:
    log = open(folder / f"{name}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(folder / "config.toml"), name],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _wait_for(check, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out waiting for {what}")
        time.sleep(0.1)


def _healthy(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.TransportError:
        return False


def _settled(settings: Settings) -> bool:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            counts = inbox.counts_by_status(connection)
    finally:
        engine.dispose()
    return bool(counts) and set(counts) <= {"done", "unhandled", "failed"}


def _play(settings: Settings, state: SandboxState, folder: Path) -> None:
    wecom = settings.wecom
    base = f"http://{settings.server.host}:{settings.server.port}"
    crypto = WeComCrypto(
        wecom.token.get_secret_value(), wecom.encoding_aes_key.get_secret_value(), wecom.corp_id
    )
    with httpx.Client(timeout=10) as client:
        _wait_for(lambda: _healthy(client, f"{base}/healthz"), "mombot serve to come up")
        driver = CallbackDriver(crypto, wecom.corp_id, f"{base}/wecom/callback", client)
        print("\n① 企业微信后台配置回调 URL")
        if not driver.verify_url():
            raise DemoFailed("URL verification failed")
        say("WeCom → mombot", "GET /wecom/callback 验证 URL：回显正确 ✓")

        print("\n② 妈妈们扫渠道活码，添加顾问")
        follows = []
        for name, channel_index in MOTHERS:
            code, channel_name, advisor = CHANNELS[channel_index]
            follow = state.befriend(advisor, name, code)
            follows.append(follow)
            fields = contact_event(
                "add_external_contact", wecom.corp_id, advisor, follow.external_userid,
                follow.createtime, State=code, WelcomeCode=secrets.token_hex(8),
            )  # fmt: skip
            started = time.perf_counter()
            response = driver.post(fields)
            elapsed = (time.perf_counter() - started) * 1000
            say(
                "WeCom → mombot",
                f"{name} 扫了「{channel_name}」添加 {ADVISORS[advisor]}："
                f"HTTP {response.status_code}，{elapsed:.0f} ms 内确认",
            )
            if response.status_code != 200:
                raise DemoFailed(f"callback refused: {response.text}")
            if name == MOTHERS[1][0]:
                retry = driver.post(fields)
                say(
                    "WeCom → mombot",
                    f"（WeCom 重试同一回调）HTTP {retry.status_code}，去重后不重复处理",
                )

        print("\n③ 一位妈妈删除了顾问")
        leaving = follows[2]
        name = MOTHERS[2][0]
        response = driver.post(
            contact_event(
                "del_follow_user",
                wecom.corp_id,
                leaving.userid,
                leaving.external_userid,
                int(time.time()),
            )
        )
        say(
            "WeCom → mombot",
            f"{name} 删除了 {ADVISORS[leaving.userid]}：HTTP {response.status_code}",
        )

        _wait_for(lambda: _settled(settings), "the worker to handle every callback")

    print("\n④ mombot 调用企业微信 API（沙箱记录）")
    for call in state.calls:
        if call.path == "gettoken":
            say("mombot → WeCom", "gettoken（access_token 缓存在 Redis，各进程共用）")
        elif call.path == "externalcontact/get":
            contact = state.contacts.get(call.params.get("external_userid", ""))
            say(
                "mombot → WeCom",
                f"externalcontact/get 读取 {contact.name if contact else '?'} 的资料",
            )
        else:
            say("mombot → WeCom", call.path)

    print("\n⑤ 结果")
    engine = make_engine(settings.database_url)
    with session(engine) as s:
        by_channel = contacts.count_by_channel(s)
        names = {code: name for code, name, _ in CHANNELS}
        for code, count in sorted(by_channel.items()):
            say("渠道", f"{names.get(code, code)}（{code}）：{count} 位客户")
        for follow in follows:
            contact = contacts.get(s, follow.external_userid)
            status = STATUS_LABELS.get(contact.status, contact.status)
            reason = (
                f"（{LOST_LABELS.get(contact.lost_reason or '', '')}）"
                if contact.lost_reason
                else ""
            )
            say("客户", f"{contact.name}：顾问 {ADVISORS[contact.owner_userid]}，{status}{reason}")
        with engine.connect() as connection:
            counts = inbox.counts_by_status(connection)
    engine.dispose()
    say("回调收件箱", "，".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if by_channel != {"store-poster": 1, "xhs-diaper": 2, "hospital-a": 1} or counts != {"done": 5}:
        raise DemoFailed(f"unexpected result: {by_channel} {counts}")
    print("\n演示完成 ✓")


def run(keep: bool = False) -> int:
    folder = Path(tempfile.mkdtemp(prefix="mombot-demo-"))
    print("mombot 演示：本地沙箱扮演企业微信，mombot serve 与 mombot worker 作为真实进程运行")
    state = SandboxState(CORP_ID, [APP_SECRET], SystemClock(ZoneInfo("Asia/Shanghai")))
    sandbox = SandboxServer(state).start()
    settings = load(_write_config(folder, sandbox.url, _free_port()))
    try:
        redis_conn.ensure_embedded(settings.data_path)  # one Redis, shared by serve and worker
        with _process("serve", folder), _process("worker", folder):
            _play(settings, state, folder)
        return 0
    except DemoFailed as exc:
        keep = True
        print(f"\n演示失败：{exc}（数据与日志在 {folder}）", file=sys.stderr)
        return 1
    finally:
        redis_conn.stop_embedded(settings.data_path)
        sandbox.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
