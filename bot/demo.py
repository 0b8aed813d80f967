"""`mombot demo`: the whole product, locally, against the WeCom sandbox.

It writes a config for a made-up corp, starts the sandbox, `mombot serve` and `mombot worker`
as real processes (embedded Redis, SQLite, all under a temporary folder), then plays WeCom:
mothers scan channel codes, WeCom retries a callback, a mother deletes her advisor, leads come
from a web form, a hospital's list and the bot, and are assigned, linked and signed. It prints
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
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx

from bot import redis_conn
from bot.text import pad
from crm import leads
from crm.clock import SystemClock
from crm.config import Settings, load
from crm.config import write as write_config
from store import contacts, inbox
from store.db import make_engine, session
from wecom.crypto import WeComCrypto
from wecom.sandbox import jssdk
from wecom.sandbox.api import SandboxServer
from wecom.sandbox.driver import CallbackDriver, contact_event
from wecom.sandbox.state import SandboxState

CORP_ID = "wwdemo0000000001"
APP_SECRET = "demo-app-secret-" + "0" * 16
ADVISORS = {"zhangsan": "张顾问", "lisi": "李顾问"}
STAFF = {**ADVISORS, "wangwu": "王店长"}  # the store manager asks for /report
CHANNELS = [
    {"code": "store-poster", "name": "门店海报", "tags": ["门店"], "advisors": ["zhangsan"],
     "welcome": "你好{name}，欢迎来到门店！我是{advisor}，孕期和育儿的问题都可以问我。"},
    {"code": "xhs-diaper", "name": "小红书纸尿裤笔记", "tags": ["小红书", "纸尿裤"],
     "advisors": ["lisi"], "welcome": "你好{name}，我是{advisor}，纸尿裤试用装已为你预留～",
     "attachments": [{"type": "link", "title": "试用装领取", "url": "https://example.com/try"}]},
    {"code": "hospital-a", "name": "合作医院A", "tags": ["医院"], "advisors": ["zhangsan"]},
]  # fmt: skip
KF = "wkDEMOBOT0000001"
MOTHERS = [("小雨", 0), ("阿敏", 1), ("婷婷", 2), ("静静", 1)]
INTAKE_TOKEN = secrets.token_urlsafe(24)
HOSPITAL_CSV = (  # a partner hospital's list, as Excel on Chinese Windows saves it (GBK)
    "姓名,手机号码,渠道,预产期,备注\n"
    "王芳,139 0000 1111,hospital-a,{due},产检登记\n"  # sent by the web form already
    "小雨,138-0013-8000,hospital-a,,老客户\n"  # 张顾问's customer: her phone is noted
    "李娜,13700002222,hospital-a,{due},想了解待产包\n"
)


class DemoFailed(Exception):
    pass


def say(who: str, text: str) -> None:
    print(f"  {pad(who, 16)}{text}", flush=True)


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
                "kf_open_kfid": KF,
            },
            "server": {"host": "127.0.0.1", "port": port},
            "logging": {"level": "WARNING"},
            "channels": CHANNELS,
            "api": {"intake_token": INTAKE_TOKEN},
            "assign": [{"name": "新线索轮流分配", "advisors": ["zhangsan", "lisi"]}],
            "sidebar": {"oauth_base": f"{api_base}/connect/oauth2/authorize"},
            # the daily push would run at 09:00 on the real clock: the demo asks instead
            "report": {"managers": ["wangwu"], "daily_push": False},
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


def _cli(folder: Path, *args: str) -> list[str]:
    """Run a mombot command as an operator would; its output lines."""
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(folder / "config.toml"), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if result.returncode != 0:
        raise DemoFailed(f"mombot {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.splitlines()


def _welcome_of(state: SandboxState, external_userid: str):
    with state.lock:
        return next((w for w in state.welcomes if w.external_userid == external_userid), None)


def _conversation(driver: CallbackDriver, state: SandboxState, follow, name: str) -> None:
    """She taps the bot link in her welcome and tells it her due date."""
    print(f"\n④ {name}点开欢迎语里的链接，和孕育小助手（微信客服）聊天")
    ext = follow.external_userid
    link = _welcome_of(state, ext).attachments[-1]["link"]["url"]
    scene = parse_qs(urlsplit(link).query)["scene_param"][0]
    say("WeCom → mombot", f"enter_session（scene_param={scene}）")
    driver.post(state.kf_enter_session(KF, ext, scene))
    _wait_for(lambda: state.kf_said_to(ext), "the bot's greeting")
    say("小助手", state.kf_said_to(ext)[-1])
    due = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=130)
    for text in ("怀孕了", f"预产期是{due.month}月{due.day}号", "对"):
        said = len(state.kf_said_to(ext))
        say(name, text)
        driver.post(state.kf_customer_says(KF, ext, text))
        _wait_for(lambda n=said: len(state.kf_said_to(ext)) > n, "the bot's answer")
        say("小助手", state.kf_said_to(ext)[-1])
    _wait_for(lambda: "孕中期" in state.tag_names(follow.userid, ext), "her stage tag")
    say("企业微信标签", "、".join(state.tag_names(follow.userid, ext)))


def _sop_day_one(folder: Path, state: SandboxState, follow, name: str) -> None:
    """Move the clock to tomorrow 10:00: her 孕中期 SOP's day-1 step goes out."""
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    moment = f"{tomorrow.isoformat()}T10:00:00+08:00"
    print(f"\n⑤ 孕中期 SOP：把时钟拨到明天 10:00（mombot sop tick --now {moment}）")
    for line in _cli(folder, "sop", "tick", "--now", moment):
        say("operator", line)
    ext = follow.external_userid
    _wait_for(lambda: any("孕中期营养指南" in m for m in state.kf_said_to(ext)), "the day-1 step")
    # she wrote to the bot within 48 h, so the step goes out there (else: a 1:1 mass send
    # that her advisor confirms)
    for line in state.kf_said_to(ext)[-1].splitlines():
        say(f"{name} 收到", line)


def _said_to(state: SandboxState, userid: str, fragment: str) -> list[str]:
    with state.lock:
        return [m for m in state.delivered_to(userid) if fragment in m]


def _follow_up(driver: CallbackDriver, state: SandboxState, settings: Settings) -> None:
    """The follow-up SLA reminded her advisor; he logs his call by replying to the app."""
    print("\n⑥ 跟进时效：添加2小时没有跟进记录，顾问收到提醒，回复应用记录跟进")
    _wait_for(lambda: _said_to(state, "zhangsan", "还没有跟进记录"), "the follow-up reminder")
    reminder = _said_to(state, "zhangsan", "还没有跟进记录")[0]
    for line in reminder.splitlines():
        say("张顾问收到", line)
    number = reminder.split("跟进 ", 1)[1].split(" ", 1)[0]
    text = f"跟进 {number} 已电话沟通，周末到店"
    say("张顾问", text)
    driver.post({"ToUserName": settings.wecom.corp_id, "FromUserName": "zhangsan",
                 "CreateTime": int(time.time()), "MsgType": "text", "Content": text,
                 "MsgId": str(secrets.randbelow(10**15)),
                 "AgentID": settings.wecom.agent_id})  # fmt: skip
    _wait_for(lambda: _said_to(state, "zhangsan", "已记录"), "the follow-up receipt")
    say("张顾问收到", _said_to(state, "zhangsan", "已记录")[0].replace("\n", " "))


def _group(folder: Path, driver: CallbackDriver, state: SandboxState, follows) -> None:
    """An advisor makes a customer group: he is asked to welcome the newcomers, and at 20:00
    the group's daily tip is handed to him as one mass send to confirm."""
    print("\n⑦ 客户群 SOP：张顾问建了「孕妈交流群」，小雨和婷婷入群")
    chat_id, created = state.create_group(
        "zhangsan", "孕妈交流群", [follows[0].external_userid, follows[2].external_userid]
    )
    driver.post(created)
    say("WeCom → mombot", "change_external_chat（create）")
    _wait_for(lambda: any(line.startswith(chat_id) for line in _cli(folder, "groups", "list")),
              "the group to be recorded")  # fmt: skip
    # the day after tomorrow: ⑤'s tick planned tomorrow's posts before the group was made (a
    # group made late in the day has its first post the next day, planned by that day's tick)
    evening = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=2)
    moment = f"{evening.isoformat()}T20:00:00+08:00"
    say("operator", f"把时钟拨到后天晚上 20:00：mombot sop tick --now {moment}")
    _cli(folder, "sop", "tick", "--now", moment)
    _wait_for(lambda: _said_to(state, "zhangsan", "新人进群欢迎"), "the newcomers' welcome task")
    for line in _said_to(state, "zhangsan", "新人进群欢迎")[0].splitlines():
        say("张顾问收到", line)

    def posts() -> list[dict]:
        with state.lock:
            return [t for t in state.msg_templates if t["chat_type"] == "group"]

    _wait_for(posts, "the daily group tip")
    say("张顾问收到群发任务", f"「{posts()[0]['text']['content']}」→ 孕妈交流群（确认后发出）")


def _app_text(driver: CallbackDriver, settings: Settings, userid: str, text: str) -> None:
    driver.post({"ToUserName": settings.wecom.corp_id, "FromUserName": userid,
                 "CreateTime": int(time.time()), "MsgType": "text", "Content": text,
                 "MsgId": str(secrets.randbelow(10**15)),
                 "AgentID": settings.wecom.agent_id})  # fmt: skip


def _assigned(state: SandboxState, userid: str, name: str) -> None:
    """Wait for the advisor to be told of a lead given to him, and show it."""
    fragment = f"新线索分配给你：{name}"
    _wait_for(lambda: _said_to(state, userid, fragment), f"{name}'s advisor to be told")
    for line in _said_to(state, userid, fragment)[0].splitlines():
        say(f"{ADVISORS[userid]}收到", line)


def _leads(
    folder: Path, client: httpx.Client, base: str, driver: CallbackDriver, state: SandboxState,
    settings: Settings, xiaoyu,
) -> None:  # fmt: skip
    """Leads from outside WeCom become one lead per person, are assigned in turn, and the
    advisor who adds one finds her history there, not a second person."""
    print("\n⑨ 线索：官网表单、合作医院名单、先找机器人的妈妈")
    xiaoyu.remark_mobiles = ["13800138000"]
    driver.post(contact_event("edit_external_contact", settings.wecom.corp_id, "zhangsan",
                              xiaoyu.external_userid, int(time.time())))  # fmt: skip
    say("张顾问", "在企业微信里给小雨备注了手机号 138****8000")
    form = {"name": "王芳", "phone": "13900001111", "channel": "web-form", "city": "上海",
            "due_date": "预产期明年5月", "source": "官网表单"}  # fmt: skip
    headers = {"Authorization": f"Bearer {INTAKE_TOKEN}", "Idempotency-Key": "form-0001"}
    answer = client.post(f"{base}/api/leads", json=form, headers=headers)
    say("官网表单", f"POST /api/leads 王芳：HTTP {answer.status_code} {answer.text}")
    if answer.status_code != 201:
        raise DemoFailed(f"intake refused: {answer.text}")
    wang = answer.json()["id"]
    _assigned(state, "zhangsan", "王芳")
    say("晓晓 → 机器人", "你好，想问问新生儿用什么纸尿裤")
    driver.post(state.kf_customer_says(KF, "wmdemoBOTFIRST", "你好，想问问新生儿用什么纸尿裤"))
    _assigned(state, "lisi", "未命名客户")  # the bot knows her by her id until she says more
    due = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=120)).isoformat()
    hospital = folder / "协和医院.csv"
    hospital.write_bytes(HOSPITAL_CSV.format(due=due).encode("gbk"))
    say("operator", f"mombot leads import {hospital.name} --source 协和医院")
    for line in _cli(folder, "leads", "import", str(hospital), "--source", "协和医院"):
        say("operator", line)
    _wait_for(lambda: _said_to(state, "zhangsan", "新线索分配给你：李娜"), "李娜's advisor")
    say("张顾问收到", _said_to(state, "zhangsan", "新线索分配给你：李娜")[0].splitlines()[0])
    follow = state.befriend("zhangsan", "王芳", f"lead:{wang}")
    driver.post(contact_event(
        "add_external_contact", settings.wecom.corp_id, "zhangsan", follow.external_userid,
        follow.createtime, State=f"lead:{wang}", WelcomeCode=follow.welcome_code,
    ))  # fmt: skip
    _wait_for(lambda: _welcome_of(state, follow.external_userid), "王芳's welcome")
    welcome = _welcome_of(state, follow.external_userid).text
    say("王芳", f"扫了张顾问发来的二维码，添加成功，收到「{welcome}」")
    text = f"签约 {wang} 3980"
    say("张顾问", text)
    _app_text(driver, settings, "zhangsan", text)
    _wait_for(lambda: _said_to(state, "zhangsan", "标为已签约"), "the signing's receipt")
    say("张顾问收到", _said_to(state, "zhangsan", "标为已签约")[0].replace("\n", " "))
    order = {"order_id": "TM20261122001", "phone": "13900001111", "amount": "3980",
             "ordered_at": datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds"),
             "items": ["待产包", "纸尿裤NB码"], "source": "天猫旗舰店"}  # fmt: skip
    auth = {"Authorization": headers["Authorization"]}
    answer = client.post(f"{base}/api/orders", json=order, headers=auth)
    say("天猫旗舰店", f"POST /api/orders 王芳的订单：HTTP {answer.status_code} {answer.text}")
    if answer.status_code != 201 or answer.json()["id"] != wang:
        raise DemoFailed(f"order not kept as 王芳's: {answer.text}")
    _wait_for(lambda: _settled(settings), "the worker to handle every event")
    say("operator", f"mombot leads show {wang}")
    for line in _cli(folder, "leads", "show", str(wang)):
        say("operator", line)
    say("operator", "mombot leads list")
    for line in _cli(folder, "leads", "list"):
        say("operator", line)


def _sidebar(base: str, state: SandboxState, xiaoyu, out: Path) -> None:
    """The advisors' sidebar: its address, and with Chromium at hand (scripts/setup --test)
    a screenshot of 小雨's profile as 张顾问 sees it next to her chat."""
    print("\n⑩ 顾问侧边栏（聊天工具栏）")
    state.oauth_member = "zhangsan"  # signed in to the sandbox's WeCom
    say("张顾问", f"在和小雨的聊天里打开侧边栏：{base}/sidebar")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver  # installed with the tests: only for the screenshot
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        webdriver = None
    if webdriver is None or not binary or not driver:
        say(
            "operator",
            "截图需要 chromium、chromium-driver 和 selenium（scripts/setup --test 会安装）",
        )
        return
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=420,1200"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        jssdk.install(browser, entry="single_chat_tools", external_userid=xiaoyu.external_userid)
        browser.get(f"{base}/sidebar")
        WebDriverWait(browser, 20).until(lambda b: "线索评分" in b.find_element(By.ID, "app").text)
        out.mkdir(parents=True, exist_ok=True)
        shot = out / "sidebar-xiaoyu.png"
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    say("operator", f"小雨的侧边栏截图：{shot}")


def _report(driver: CallbackDriver, state: SandboxState, settings: Settings, out: Path) -> None:
    """The store manager asks for today's numbers in the app chat: a summary and the
    dashboard image come back."""
    print("\n⑪ 店长看报表：/report")
    say("王店长", "/report")
    _app_text(driver, settings, "wangwu", "/report")
    _wait_for(lambda: state.images_to("wangwu"), "the report's dashboard", seconds=60)
    (summary,) = _said_to(state, "wangwu", "经营报表")
    for line in summary.splitlines():
        say("王店长收到", line)
    out.mkdir(parents=True, exist_ok=True)
    picture = out / "report-dashboard.png"
    picture.write_bytes(state.images_to("wangwu")[-1])
    say("王店长收到", f"一张图（报表看板），已存为 {picture}")


def _play(settings: Settings, state: SandboxState, folder: Path) -> None:
    wecom = settings.wecom
    base = f"http://{settings.server.host}:{settings.server.port}"
    crypto = WeComCrypto(
        wecom.token.get_secret_value(), wecom.encoding_aes_key.get_secret_value(), wecom.corp_id
    )
    with httpx.Client(timeout=10) as client:
        _wait_for(lambda: _healthy(client, f"{base}/healthz"), "mombot serve to come up")
        driver = CallbackDriver(crypto, wecom.corp_id, f"{base}/wecom/callback", client)
        print("\n① 管理员在企业微信后台保存回调 URL")
        if not driver.verify_url():
            raise DemoFailed("URL verification failed")
        say("WeCom → mombot", "GET /wecom/callback 验证 URL：回显正确 ✓")

        print("\n② 运营同步渠道活码：mombot channels sync")
        for line in _cli(folder, "channels", "sync"):
            say("operator", line)

        print("\n③ 妈妈们扫渠道活码，添加顾问")
        follows = []
        for name, index in MOTHERS:
            channel = CHANNELS[index]
            advisor = channel["advisors"][0]
            follow = state.befriend(advisor, name, channel["code"])
            follows.append(follow)
            fields = contact_event(
                "add_external_contact", wecom.corp_id, advisor, follow.external_userid,
                follow.createtime, State=channel["code"], WelcomeCode=follow.welcome_code,
            )  # fmt: skip
            started = time.perf_counter()
            response = driver.post(fields)
            if response.status_code != 200:
                raise DemoFailed(f"callback refused: {response.text}")
            say(
                "WeCom → mombot", f"{name} 扫「{channel['name']}」添加{ADVISORS[advisor]}：HTTP 200"
            )
            if index == 1 and name == "阿敏":
                retry = driver.post(fields)
                say("WeCom → mombot", f"（WeCom 重试同一回调）HTTP {retry.status_code}，去重")
            _wait_for(lambda f=follow: _welcome_of(state, f.external_userid), f"{name}'s welcome")
            welcome = _welcome_of(state, follow.external_userid)
            took = time.perf_counter() - started
            say(f"{name} 收到", f"「{welcome.text}」（{took:.1f} 秒后）")
            for item in welcome.attachments:
                say("", f"  附件：{item['msgtype']}「{item[item['msgtype']].get('title', '')}」")

        _conversation(driver, state, follows[0], MOTHERS[0][0])
        _sop_day_one(folder, state, follows[0], MOTHERS[0][0])
        _follow_up(driver, state, settings)
        _group(folder, driver, state, follows)

        print("\n⑧ 一位妈妈删除了顾问")
        leaving, name = follows[2], MOTHERS[2][0]
        state.unfriend(leaving.userid, leaving.external_userid)
        response = driver.post(
            contact_event(
                "del_follow_user", wecom.corp_id, leaving.userid, leaving.external_userid,
                int(time.time()),
            )
        )  # fmt: skip
        say(
            "WeCom → mombot",
            f"{name} 删除了{ADVISORS[leaving.userid]}：HTTP {response.status_code}",
        )
        _wait_for(lambda: _said_to(state, leaving.userid, "流失提醒"), "the loss notice")
        for line in _said_to(state, leaving.userid, "流失提醒")[0].splitlines():
            say(f"{ADVISORS[leaving.userid]}收到", line)
        _wait_for(lambda: _settled(settings), "the worker to handle every callback")
        _leads(folder, client, base, driver, state, settings, follows[0])

        _sidebar(base, state, follows[0], Path.cwd() / "mombot-demo")
        _report(driver, state, settings, Path.cwd() / "mombot-demo")

    print("\n⑫ 结果：mombot channels list")
    for line in _cli(folder, "channels", "list"):
        say("operator", line)
    engine = make_engine(settings.database_url)
    with session(engine) as s:
        by_channel = contacts.count_by_channel(s)
        for follow in follows:
            contact = contacts.get(s, follow.external_userid)
            status = leads.label(contact.status)
            lost = f"（{contact.lost_reason}）" if contact.lost_reason else ""
            tags = "、".join(state.tag_names(follow.userid, follow.external_userid)) or "—"
            say(
                "客户",
                f"{contact.name}：{ADVISORS[contact.owner_userid]}，{status}{lost}，标签 {tags}",
            )
        with engine.connect() as connection:
            counts = inbox.counts_by_status(connection)
    engine.dispose()
    say("回调收件箱", "，".join(f"{k} {v}" for k, v in sorted(counts.items())))
    expected = {"store-poster": 1, "xhs-diaper": 2, "hospital-a": 2, "web-form": 1, "": 1}
    if by_channel != expected or set(counts) != {"done"} or len(state.welcomes) != 5:
        raise DemoFailed(f"unexpected result: {by_channel} {counts} {len(state.welcomes)} welcomes")
    print("\n演示完成 ✓")


def run(keep: bool = False) -> int:
    folder = Path(tempfile.mkdtemp(prefix="mombot-demo-"))
    print("mombot 演示：本地沙箱扮演企业微信，mombot serve 与 mombot worker 作为真实进程运行")
    state = SandboxState(
        CORP_ID, [APP_SECRET], SystemClock(ZoneInfo("Asia/Shanghai")), STAFF,
        kf_accounts={KF: "孕育小助手"},
    )  # fmt: skip
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
