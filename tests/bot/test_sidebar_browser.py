"""The sidebar as an advisor meets it: the real page in headless Chromium (Debian's chromium
and chromium-driver), served by mombot on a real port, logging in through the sandbox's
OAuth2 page, with a test-only stand-in for WeCom's JS-SDK object (`ww`) that says which
customer the chat is with. A screenshot is kept with the test run's artefacts."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlmodel import select

from bot import worker
from bot.server import create_app
from sop import lifecycle
from store import db, followups, kf
from store.models import Contact, ContactFollow, FollowUp, ScriptUse
from tests.support import deliver, free_port, new_lead, reconfigure, settings_data
from wecom import jsapi
from wecom.sandbox import jssdk

ARTEFACTS = Path(os.environ.get("MOMBOT_TEST_ARTEFACTS", Path(__file__).parents[2] / "artefacts"))


class Served:
    """mombot's HTTP app on a real loopback port, in a thread of its own (the browser waits on
    it while the test waits on the browser)."""

    def __init__(self, app: web.Application) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def click(browser, label: str) -> None:
    press(browser, f"//button[text()='{label}']")


def press(browser, xpath: str) -> None:
    """Click what xpath finds; found again if the page drew it anew in between."""

    def pressed(b) -> bool:
        try:
            b.find_element(By.XPATH, xpath).click()
        except StaleElementReferenceException:
            return False
        return True

    WebDriverWait(browser, 10).until(pressed)


def wait_for(browser, text: str) -> None:
    WebDriverWait(browser, 10).until(lambda b: text in b.find_element(By.ID, "app").text)


def opened_by(runtime, sandbox, browser, userid: str, roles: dict | None = None, **chat) -> None:
    """WeCom's side of opening the sidebar: its OAuth2 page (the sandbox's) logs `userid` in,
    and the stand-in JS-SDK says which chat the page is next to (`chat`: as jssdk.install)."""
    data = settings_data(runtime)
    data["sidebar"] = {"oauth_base": f"{sandbox.url}/connect/oauth2/authorize"}
    if roles is not None:
        data["roles"] = roles
    reconfigure(runtime, data)
    sandbox.state.oauth_member = userid
    jssdk.install(browser, **chat)


def keep(shot, name: str) -> None:
    """A screenshot of the page (or of one element) with the test run's artefacts."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    if isinstance(shot, webdriver.Chrome):
        shot.save_screenshot(str(ARTEFACTS / name))
    else:
        shot.screenshot(str(ARTEFACTS / name))


@pytest.fixture
def browser():
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "scripts/setup --test installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=420,900", "--lang=zh-CN"):  # fmt: skip
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


def test_an_advisor_opens_the_sidebar_next_to_her_chat(runtime, sandbox, browser, clock):
    her = new_lead(runtime, sandbox)
    sandbox.state.add_corp_tags({"group_name": "客户意向", "tag": [{"name": "到店意向"}]})
    with runtime.context() as ctx:  # she told the bot her due date: 孕29周+3天 today
        lifecycle.set_dates(ctx, ctx.session.get(Contact, her.id),
                            due_date=clock.now().date() + timedelta(days=74))  # fmt: skip
        ctx.session.commit()
    opened_by(runtime, sandbox, browser, "zhangsan", entry="single_chat_tools",
              external_userid=her.external_userid)  # fmt: skip
    with Served(create_app(runtime)) as served:
        browser.get(f"{served.url}/sidebar")
        WebDriverWait(browser, 20).until(
            lambda b: "小雨" in b.find_element(By.ID, "app").text
        )  # fmt: skip
        shown = browser.find_element(By.ID, "app").text
        keep(browser, "sidebar-profile.png")
        seen = browser.execute_script("return window.__wwSeen")
        page = browser.current_url.split("#")[0]

        # she asked about the hospital bag: the advisor logs it, moves her, sends a script
        browser.find_element(By.ID, "note").send_keys("电话聊了待产包，周六到店")
        click(browser, "记录跟进")
        wait_for(browser, "已沟通")
        click(browser, "有意向")
        wait_for(browser, "新线索 → 已沟通")
        wait_for(browser, "已沟通 → 有意向")
        press(browser, "//ul[@class='scripts']//strong[text()='待产包清单']")
        WebDriverWait(browser, 10).until(
            lambda b: b.execute_script(
                "return window.__wwSeen.calls.some(c => c[0] === 'sendChatMessage')"
            )
        )
        keep(browser, "sidebar-after-actions.png")
        click(browser, "编辑标签")  # she said she will come to the store: 到店意向
        chip = "//div[@class='tags']/span[text()='到店意向']"
        press(browser, chip)
        click(browser, "保存标签")
        WebDriverWait(browser, 10).until(
            lambda b: "到店意向" in sandbox.state.tag_names("zhangsan", her.external_userid)
        )
        sent = [
            c[1]
            for c in browser.execute_script("return window.__wwSeen.calls")
            if c[0] == "sendChatMessage"
        ]
    assert page == f"{served.url}/sidebar"  # the code and state are gone from the address
    assert "新线索" in shown and "小红书纸尿裤笔记" in shown and "孕晚期 · 孕29周+3天" in shown
    assert "线索评分 12" in shown and "进入孕晚期" in shown and "添加了顾问" in shown
    (register,) = [c for c in seen["calls"] if c[0] == "register"]
    assert register[1:3] == [sandbox.state.corp_id, 1000002]
    assert "getCurExternalContact" in register[3]
    assert sent[0]["msgtype"] == "text" and sent[0]["text"]["content"].startswith(
        "小雨，到孕晚期啦，可以开始准备待产包了")  # fmt: skip
    with db.session(runtime.engine) as s:
        moved = s.get(Contact, her.id)
        used = s.exec(select(ScriptUse)).all()
        follow_ups = s.exec(select(FollowUp).where(FollowUp.contact_id == her.id)).all()
    assert moved.status == "interested" and [f.note for f in follow_ups] == [
        "电话聊了待产包，周六到店"]  # fmt: skip
    assert [(u.script_id, u.userid) for u in used] == [("late-bag", "zhangsan")]
    for kind in ("corp", "agent"):  # signed with the tickets the sandbox issued
        signed = seen["signatures"][kind]
        (ticket,) = sandbox.state.tickets[kind]
        assert signed["signature"] == jsapi.signature(ticket, signed["nonceStr"],
                                                      signed["timestamp"], page)  # fmt: skip


def test_opened_in_a_customer_group_it_shows_the_groups_stages_and_newcomers(
    runtime, sandbox, browser, clock
):
    her = new_lead(runtime, sandbox)
    with runtime.context() as ctx:
        lifecycle.set_dates(ctx, ctx.session.get(Contact, her.id),
                            due_date=clock.now().date() + timedelta(days=74))  # fmt: skip
        ctx.session.commit()
    chat, created = sandbox.state.create_group("zhangsan", "孕妈交流群", [her.external_userid])
    deliver(runtime, created)
    worker.run(runtime, burst=True)
    opened_by(runtime, sandbox, browser, "zhangsan", entry="group_chat_tools", chat_id=chat)
    with Served(create_app(runtime)) as served:
        browser.get(f"{served.url}/sidebar")
        wait_for(browser, "本周新人")
        shown = browser.find_element(By.ID, "app").text
        keep(browser, "sidebar-group.png")
    assert "孕妈交流群" in shown and "1 位客户" in shown
    assert "小雨 · 孕晚期（孕29周+3天）" in shown and "孕妈群每日小知识" in shown


def test_another_advisor_sees_her_talk_with_the_bot_but_not_what_is_masked(
    runtime, sandbox, browser, clock
):
    her = new_lead(runtime, sandbox)
    with db.session(runtime.engine) as s:  # lisi has her in WeCom too; zhangsan owns her
        contact = s.get(Contact, her.id)
        contact.phone, contact.city = "13812345678", "上海"
        s.add(ContactFollow(contact_id=her.id, userid="lisi", updated_at=clock.now()))
        followups.log(s, contact, "zhangsan", "她家住得远，周末到店", clock.now())
        kf.record_sent(s, "b1", her.external_userid, "你好呀，我是孕育小助手～", clock.now())
        said = {"msgid": "m1", "external_userid": her.external_userid, "origin": 3,
                "msgtype": "text", "text": {"content": "怀孕了，预产期明年2月"}}  # fmt: skip
        kf.first_sight(s, said, clock.now() + timedelta(minutes=1))
        s.commit()
    opened_by(runtime, sandbox, browser, "lisi", {"masked": ["phone", "city", "notes"]},
              entry="single_chat_tools", external_userid=her.external_userid)  # fmt: skip
    with Served(create_app(runtime)) as served:
        browser.get(f"{served.url}/sidebar")
        wait_for(browser, "她和小助手的对话")
        shown = browser.find_element(By.ID, "app").text
        keep(browser, "sidebar-masked.png")
        keep(browser.find_element(By.XPATH, "//h2[text()='她和小助手的对话']/.."),
             "sidebar-talk.png")  # fmt: skip
    assert "完整电话、城市、跟进备注仅她的负责顾问和店长可见" in shown
    assert "她由张顾问负责" in shown and "记录跟进" not in shown and "编辑标签" not in shown
    assert "138****5678" in shown and "13812345678" not in shown and "上海" not in shown
    assert "周末到店" not in shown and "（备注不可见）" in shown
    assert shown.index("小助手\n你好呀") < shown.index("她\n怀孕了，预产期明年2月")
