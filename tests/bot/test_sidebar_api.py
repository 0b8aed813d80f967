"""The sidebar over real HTTP, with the sandbox as WeCom: OAuth2 login (a code works once),
the JS-SDK's signatures over the tickets WeCom issued, and her profile only for who may see
her — every look in the audit log."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from bot import worker
from bot.cli import main
from bot.server import create_app
from crm import config
from sop import lifecycle
from store import audit as audit_log
from store import db, followups, kf
from store.models import AuditEntry, Contact, ContactFollow, Order, SopTask
from tests.support import added, deliver, new_lead, reconfigure, settings_data
from wecom import jsapi


@pytest.fixture
async def client(aiohttp_client, runtime):
    data = settings_data(runtime)
    data["roles"] = {"managers": ["boss"], "team_leads": {"wangwu": ["zhangsan"]}}
    reconfigure(runtime, data)
    return await aiohttp_client(create_app(runtime))


async def log_in(client, sandbox, userid):
    """What the advisor's WeCom does: open /sidebar, follow OAuth2, come back with a code."""
    first = await client.get("/sidebar", allow_redirects=False)
    assert first.status == 302
    state = parse_qs(urlsplit(first.headers["Location"]).query)["state"][0]
    code = sandbox.state.oauth_code(userid)
    back = await client.get("/sidebar", params={"code": code, "state": state},
                            allow_redirects=False)  # fmt: skip
    assert (back.status, back.headers["Location"]) == (302, "/sidebar")
    return code, state


async def test_without_a_session_the_page_sends_the_advisor_to_wecoms_oauth(client):
    answer = await client.get("/sidebar", allow_redirects=False)
    assert answer.status == 302
    target = urlsplit(answer.headers["Location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == jsapi.AUTHORIZE
    assert query["scope"] == ["snsapi_base"] and query["agentid"] == ["1000002"]
    assert query["redirect_uri"][0].endswith("/sidebar") and target.fragment == "wechat_redirect"
    assert "HttpOnly" in answer.headers["Set-Cookie"]
    assert (await client.get("/api/sidebar/contact?external_userid=wm1")).status == 401


async def test_a_code_logs_in_once_and_a_reused_one_gets_a_clear_page(client, sandbox):
    code, state = await log_in(client, sandbox, "zhangsan")
    page = await client.get("/sidebar")
    assert page.status == 200 and "客户侧边栏" in await page.text()
    client.session.cookie_jar.clear()
    await client.get("/sidebar", allow_redirects=False)  # a new OAuth round trip …
    again = await client.get(
        "/sidebar", params={"code": code, "state": state}, allow_redirects=False
    )  # … with the old code and state
    assert again.status == 400 and "重新打开侧边栏" in await again.text()
    fresh = await client.get("/sidebar", allow_redirects=False)
    state = parse_qs(urlsplit(fresh.headers["Location"]).query)["state"][0]
    reused = await client.get("/sidebar", params={"code": code, "state": state},
                              allow_redirects=False)  # fmt: skip
    assert reused.status == 400 and "已失效或已被使用" in await reused.text()


async def test_jssdk_signatures_verify_against_the_tickets_wecom_issued(client, sandbox):
    await log_in(client, sandbox, "zhangsan")
    page = "http://127.0.0.1/sidebar?x=1"
    answer = await client.get("/api/sidebar/jssdk", params={"url": page + "#top"})
    assert answer.status == 200
    body = await answer.json()
    assert (body["corpId"], body["agentId"]) == (sandbox.state.corp_id, 1000002)
    for kind in ("corp", "agent"):
        signed = body[kind]
        (ticket,) = sandbox.state.tickets[kind]
        assert signed["signature"] == jsapi.signature(ticket, signed["nonceStr"],
                                                      signed["timestamp"], page)  # fmt: skip
    await client.get("/api/sidebar/jssdk", params={"url": page})
    assert [len(sandbox.state.tickets[k]) for k in ("corp", "agent")] == [1, 1]  # cached
    bad = await client.get("/api/sidebar/jssdk", params={"url": "javascript:alert(1)"})
    assert bad.status == 400


def audit(runtime):
    with db.session(runtime.engine) as s:
        rows = s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(e.actor, e.action, json.loads(e.detail)["contact_id"]) for e in rows]


async def test_her_profile_only_for_her_advisor_his_lead_and_managers(client, runtime, sandbox):
    her = new_lead(runtime, sandbox)
    await log_in(client, sandbox, "zhangsan")
    mine = await client.get("/api/sidebar/contact", params={"external_userid": her.external_userid})
    assert mine.status == 200
    shown = await mine.json()
    assert (shown["name"], shown["status"]) == ("小雨", "新线索")
    assert shown["channel_name"] == "小红书纸尿裤笔记" and shown["stage"] is None
    assert shown["sla"] == {"step": "remind", "due_at": "2026-11-22T12:00:00+08:00"}
    assert shown["scripts"][-1]["text"].startswith("小雨你好，我是张顾问")
    assert shown["bot_messages"] == [] and shown["lost_reasons"][0] == "价格太高"
    for userid, status in (("lisi", 403), ("wangwu", 200), ("boss", 200)):
        client.session.cookie_jar.clear()
        await log_in(client, sandbox, userid)
        answer = await client.get("/api/sidebar/contact",
                                  params={"external_userid": her.external_userid})  # fmt: skip
        assert answer.status == status, userid
    assert audit(runtime) == [
        ("zhangsan", "sidebar.view", her.id),
        ("lisi", "sidebar.denied", her.id),
        ("wangwu", "sidebar.view", her.id),
        ("boss", "sidebar.view", her.id),
    ]
    nobody = await client.get("/api/sidebar/contact", params={"external_userid": "wmNOBODY"})
    assert nobody.status == 404
    malformed = await client.get("/api/sidebar/contact", params={"external_userid": "a b"})
    assert malformed.status == 400


async def test_her_profile_shows_her_conversation_with_the_bot_both_ways(
    client, runtime, sandbox, clock
):
    her = new_lead(runtime, sandbox)
    ext = her.external_userid
    with db.session(runtime.engine) as s:
        kf.record_sent(s, "b1", ext, "你好呀，我是孕育小助手～", clock.now())
        clock.advance(timedelta(minutes=1))
        said = {"msgid": "m1", "external_userid": ext, "origin": 3, "msgtype": "text",
                "text": {"content": "怀孕了"}}  # fmt: skip
        assert kf.first_sight(s, said, clock.now())
        clock.advance(timedelta(minutes=1))
        kf.record_sent(s, "b2", ext, "恭喜你！预产期是哪一天呢？", clock.now())
        s.commit()
    await log_in(client, sandbox, "zhangsan")
    shown = await (await client.get("/api/sidebar/contact", params={"external_userid": ext})).json()
    assert [(m["from"], m["text"]) for m in shown["bot_messages"]] == [
        ("bot", "你好呀，我是孕育小助手～"),
        ("customer", "怀孕了"),
        ("bot", "恭喜你！预产期是哪一天呢？"),
    ]


async def test_assets_are_served_with_cache_headers(client):
    ours = await client.get("/sidebar/static/sidebar.js")
    wecoms = await client.get("/sidebar/static/wecom-jssdk-2.4.4.js")
    assert ours.headers["Cache-Control"] == "public, max-age=3600"
    assert "immutable" in wecoms.headers["Cache-Control"]
    assert (await client.get("/sidebar/static/../config.toml")).status == 404


async def csrf(client):
    return {"X-CSRF-Token": (await (await client.get("/api/sidebar/session")).json())["csrf"]}


async def test_actions_move_her_and_refuse_what_is_wrong(client, runtime, sandbox, clock):
    her = new_lead(runtime, sandbox)
    await log_in(client, sandbox, "zhangsan")
    token, who = await csrf(client), {"external_userid": her.external_userid}
    nothing = await client.post("/api/sidebar/follow_up", json={**who, "note": "x"})
    assert nothing.status == 403  # no CSRF token: a forged request
    done = await client.post("/api/sidebar/follow_up", headers=token,
                             json={**who, "note": "电话聊了待产包"})  # fmt: skip
    assert done.status == 200 and (await done.json())["status"] == "已沟通"
    lost = await client.post("/api/sidebar/status", headers=token, json={**who, "status": "已流失"})
    assert lost.status == 400 and "标记流失需要写明原因" in (await lost.json())["error"]
    moved = await client.post("/api/sidebar/status", headers=token,
                              json={**who, "status": "有意向", "note": "问了大包装"})  # fmt: skip
    body = await moved.json()
    assert body["status"] == "有意向" and body["history"][-1]["source"] == "sidebar"
    told = await client.post("/api/sidebar/dates", headers=token,
                             json={**who, "due_date": "预产期明年3月15号"})  # fmt: skip
    assert (await told.json())["due_date"] == "2027-03-15"
    wrong = await client.post("/api/sidebar/dates", headers=token,
                              json={**who, "baby_birthday": "2030-01-01"})  # fmt: skip
    assert wrong.status == 400 and "baby_birthday" in (await wrong.json())["error"]
    noted = await client.post("/api/sidebar/note", headers=token, json={**who, "note": "周六到店"})
    assert (await noted.json())["history"][-1]["note"] == "周六到店"
    form = await client.post("/api/sidebar/note", headers=token, data="note=x")
    assert form.status == 415
    assert (await client.post("/api/sidebar/delete_everything", headers=token, json=who)).status \
        == 404  # fmt: skip
    actions = [a for _, a, _ in audit(runtime) if a not in ("sidebar.view",)]
    assert actions == ["sidebar.follow_up", "sidebar.status", "sidebar.dates", "sidebar.note"]


async def test_an_advisor_cannot_act_on_another_advisors_customer(client, runtime, sandbox):
    her = new_lead(runtime, sandbox)
    await log_in(client, sandbox, "lisi")
    body = {"external_userid": her.external_userid, "note": "x"}
    answer = await client.post("/api/sidebar/follow_up", headers=await csrf(client), json=body)
    assert answer.status == 403
    assert audit(runtime)[-1][:2] == ("lisi", "sidebar.denied")


def test_audit_list_finds_views_by_who_whom_and_since(runtime, tmp_path, capsys, clock):
    her, other = new_lead_ids(runtime)
    with db.session(runtime.engine) as s:
        audit_log.record(s, "lisi", "sidebar.denied", {"contact_id": her}, 0,
                         clock.now() - timedelta(days=3))  # fmt: skip
        audit_log.record(s, "zhangsan", "sidebar.view", {"contact_id": her}, 1, clock.now())
        audit_log.record(s, "zhangsan", "sidebar.view", {"contact_id": other}, 1, clock.now())
        s.commit()
    path = config.write(tmp_path / "config.toml", settings_data(runtime))

    def listed(*words):
        assert main(["--config", str(path), "audit", "list", "--json", *words]) == 0
        return [(e["actor"], e["action"], e["detail"]["contact_id"])
                for e in json.loads(capsys.readouterr().out)]  # fmt: skip

    assert listed("--who", "lisi") == [("lisi", "sidebar.denied", her)]
    assert listed("--contact", str(her)) == [("zhangsan", "sidebar.view", her),
                                             ("lisi", "sidebar.denied", her)]  # fmt: skip
    since = (clock.now() - timedelta(days=1)).date().isoformat()
    assert [a for _, a, _ in listed("--since", since, "--action", "sidebar.*")] == [
        "sidebar.view", "sidebar.view"]  # fmt: skip


def new_lead_ids(runtime) -> tuple[int, int]:
    with db.session(runtime.engine) as s:
        made = [Contact(name=n, created_at=runtime.clock.now(), updated_at=runtime.clock.now())
                for n in ("甲", "乙")]  # fmt: skip
        s.add_all(made)
        s.commit()
        return made[0].id, made[1].id


async def test_search_finds_an_advisors_own_leads_and_a_managers_all(client, runtime, sandbox):
    mine = new_lead(runtime, sandbox, "小雨")
    _, fields = added(sandbox.state, "阿敏", userid="lisi", channel="store-poster")
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    await log_in(client, sandbox, "zhangsan")
    found = await (await client.get("/api/sidebar/search", params={"q": "新线索"})).json()
    assert [lead["name"] for lead in found["leads"]] == ["小雨"] and found["total"] == 1
    assert found["leads"][0]["external_userid"] == mine.external_userid
    theirs = await (await client.get("/api/sidebar/search", params={"q": "lisi"})).json()
    assert theirs["leads"] == []  # naming another advisor shows nothing of his
    client.session.cookie_jar.clear()
    await log_in(client, sandbox, "boss")
    everyone = await (await client.get("/api/sidebar/search", params={"q": "新线索"})).json()
    assert sorted(lead["name"] for lead in everyone["leads"]) == ["小雨", "阿敏"]
    assert ("boss", "sidebar.search") in [(a, b) for a, b, *_ in audit_rows(runtime)]


def audit_rows(runtime):
    with db.session(runtime.engine) as s:
        return [(e.actor, e.action) for e in s.exec(select(AuditEntry))]


async def test_one_who_may_look_may_not_change_her_and_bad_input_is_a_400(client, runtime,
                                                                         sandbox):  # fmt: skip
    her = new_lead(runtime, sandbox)
    with db.session(runtime.engine) as s:  # lisi has her in WeCom too, zhangsan owns her
        s.add(ContactFollow(contact_id=her.id, userid="lisi", updated_at=runtime.clock.now()))
        pooled = Contact(name="公海妈妈", created_at=runtime.clock.now(),
                         updated_at=runtime.clock.now())  # fmt: skip
        s.add(pooled)
        s.commit()
    await log_in(client, sandbox, "lisi")
    who = {"external_userid": her.external_userid}
    looked = await client.get("/api/sidebar/contact", params=who)
    assert looked.status == 200 and (await looked.json())["may_edit"] is False
    token = await csrf(client)
    moved = await client.post("/api/sidebar/status", headers=token,
                              json={**who, "status": "已签约", "amount": "3980"})  # fmt: skip
    assert moved.status == 403 and audit(runtime)[-1][:2] == ("lisi", "sidebar.denied")
    script = await client.post(
        "/api/sidebar/script", headers=token, json={**who, "script_id": "late-bag"}
    )  # in his own chat: counted
    assert script.status == 200 and ("lisi", "sidebar.script", her.id) in audit(runtime)
    found = await (await client.get("/api/sidebar/search", params={"q": "zhangsan"})).json()
    assert found == {"total": 0, "leads": []}  # not even leads that nobody owns
    odd = await client.post("/api/sidebar/note", data=b"{}", headers={
        **token, "Content-Type": "application/json; charset=foo"})  # fmt: skip
    assert odd.status == 400
    bad_url = await client.get("/api/sidebar/jssdk", params={"url": "http://[::1"})
    assert bad_url.status == 400
    newline = await client.get("/api/sidebar/contact",
                               params={"external_userid": her.external_userid + "\n"})  # fmt: skip
    assert newline.status == 400


async def test_masked_fields_are_whole_only_for_her_owner_and_the_managers(
    client, runtime, sandbox, clock
):
    data = settings_data(runtime)
    data["roles"]["masked"] = ["phone", "city", "orders", "notes"]
    reconfigure(runtime, data)
    her = new_lead(runtime, sandbox)
    with db.session(runtime.engine) as s:
        contact = s.get(Contact, her.id)
        contact.phone, contact.city, contact.tier = "13812345678", "上海", "高价值"
        s.add(ContactFollow(contact_id=her.id, userid="lisi", updated_at=clock.now()))
        s.add(Order(order_id="T1", contact_id=her.id, amount_cents=39800, ordered_at=clock.now(),
                    items="纸尿裤", created_at=clock.now()))  # fmt: skip
        followups.log(s, contact, "zhangsan", "她家住得远，周末到店", clock.now())
        followups.log(s, contact, "wangwu", "主管抽查：已回访", clock.now())
        said = {"msgid": "m1", "external_userid": her.external_userid, "origin": 3,
                "msgtype": "text", "text": {"content": "我电话13912345678"}}  # fmt: skip
        kf.first_sight(s, said, clock.now())
        s.commit()
    who = {"external_userid": her.external_userid}
    seen = {}
    for userid in ("zhangsan", "boss", "lisi", "wangwu"):  # owner, manager, co-follower, lead
        client.session.cookie_jar.clear()
        await log_in(client, sandbox, userid)
        seen[userid] = await (await client.get("/api/sidebar/contact", params=who)).json()
    for userid in ("zhangsan", "boss"):
        shown = seen[userid]
        assert (shown["phone"], shown["city"], shown["masked"]) == ("13812345678", "上海", [])
        assert shown["orders"][0]["amount"] == 398.0 and shown["tier"] == "高价值"
        assert "下单" in [item["rule"] for item in shown["score_breakdown"]]
        assert [f["note"] for f in shown["follow_ups"]] == ["主管抽查：已回访",
                                                             "她家住得远，周末到店"]  # fmt: skip
        assert shown["bot_messages"][0]["text"] == "我电话13912345678"
    for userid in ("lisi", "wangwu"):
        shown = seen[userid]
        assert (shown["phone"], shown["city"], shown["tier"]) == ("138****5678", None, None)
        assert shown["masked"] == ["phone", "city", "orders", "notes"]
        assert shown["orders"] == [] and shown["bot_messages"][0]["text"] == "我电话139****5678"
        assert "下单" not in [item["rule"] for item in shown["score_breakdown"]]
        assert all(step["amount"] is None for step in shown["history"])
    assert [f["note"] for f in seen["lisi"]["follow_ups"]] == [None, None]
    assert [f["note"] for f in seen["wangwu"]["follow_ups"]] == ["主管抽查：已回访", None]


async def test_the_group_view_shows_its_customers_stages_and_newcomers(client, runtime, sandbox,
                                                                      clock):  # fmt: skip
    xiaoyu = new_lead(runtime, sandbox, "小雨")
    with runtime.context() as ctx:
        lifecycle.set_dates(ctx, ctx.session.get(Contact, xiaoyu.id),
                            due_date=clock.now().date() + timedelta(days=74))  # fmt: skip
        ctx.session.commit()
    chat, created = sandbox.state.create_group("zhangsan", "孕妈交流群", [xiaoyu.external_userid])
    deliver(runtime, created)
    worker.run(runtime, burst=True)
    await log_in(client, sandbox, "zhangsan")
    answer = await client.get("/api/sidebar/group", params={"chat_id": chat})
    assert answer.status == 200
    body = await answer.json()
    assert (body["name"], body["customers"], body["stages"]) == ("孕妈交流群", 1, {"孕晚期": 1})
    (member,) = body["newcomers"]
    assert (member["name"], member["how_far"]) == ("小雨", "孕29周+3天")
    assert [(p["sop"], p["due_at"][11:16]) for p in body["planned"]] == [
        ("新人进群欢迎", "10:00"), ("孕妈群每日小知识", "20:00")]  # fmt: skip
    client.session.cookie_jar.clear()
    await log_in(client, sandbox, "lisi")
    assert (await client.get("/api/sidebar/group", params={"chat_id": chat})).status == 403
    unknown = await client.get("/api/sidebar/group", params={"chat_id": "wrNOSUCH"})
    assert unknown.status == 404


async def test_tags_from_the_sidebar_are_set_in_wecom_and_start_sops(client, runtime, sandbox):
    her = new_lead(runtime, sandbox)
    sandbox.state.tag_in_console("zhangsan", her.external_userid, "客户意向", "到店意向")
    sandbox.state.mark_tag(
        {
            "userid": "zhangsan",
            "external_userid": her.external_userid,
            "remove_tag": [
                t["id"]
                for g in sandbox.state.tag_groups
                for t in g["tag"]
                if t["name"] == "到店意向"
            ],
        }
    )
    await log_in(client, sandbox, "zhangsan")
    offered = await (await client.get("/api/sidebar/tags")).json()
    groups = {g["group"]: {t["name"]: t["id"] for t in g["tags"]} for g in offered["groups"]}
    assert "到店意向" in groups["客户意向"] and "孕育阶段" not in groups
    token, who = await csrf(client), {"external_userid": her.external_userid}
    answer = await client.post("/api/sidebar/tags", headers=token,
                               json={**who, "add": [groups["客户意向"]["到店意向"]],
                                     "remove": [groups["渠道来源"]["纸尿裤"]]})  # fmt: skip
    assert answer.status == 200
    assert sorted((await answer.json())["tags"]) == ["到店意向", "小红书"]
    in_wecom = sorted(sandbox.state.tag_names("zhangsan", her.external_userid))
    assert in_wecom == ["到店意向", "小红书"]
    with db.session(runtime.engine) as s:  # its tag_added SOP asks her advisor to call
        planned = s.exec(select(SopTask).where(SopTask.sop_id == "store-visit-intent")).all()
    assert len(planned) == 1
    bad = await client.post("/api/sidebar/tags", headers=token, json={**who, "add": ["nope"]})
    assert bad.status == 400 and "unknown or mombot's own tag id" in (await bad.json())["error"]
