"""POST /api/leads over real HTTP: leads from other systems become one lead per person,
assigned by the [[assign]] rules, their advisor told by the worker."""

import asyncio
import json
from datetime import timedelta

import pytest
from sqlmodel import func, select

from bot import worker
from bot.server import create_app
from crm import assign
from store import db, leads, merges
from store.models import Contact, LeadIdentity, LeadIntake, LeadNotice, SopTask
from tests.support import CORP_ID, added, deliver, reconfigure, settings_data
from wecom.sandbox.driver import contact_event

TOKEN = "intake-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client(aiohttp_client, runtime):
    data = settings_data(runtime)
    data["api"] = {"intake_token": TOKEN}
    data["assign"] = [
        {"name": "医院合作", "sources": ["协和医院"], "advisors": ["lisi"]},
        {"advisors": ["zhangsan", "lisi"], "method": "round_robin"},
    ]
    reconfigure(runtime, data)
    return await aiohttp_client(create_app(runtime))


def counts(runtime) -> tuple[int, int]:
    with db.session(runtime.engine) as s:
        people = s.exec(select(func.count()).select_from(Contact)).one()
        intakes = s.exec(select(func.count()).select_from(LeadIntake)).one()
        return people, intakes


def lead(runtime, contact_id) -> Contact:
    with db.session(runtime.engine) as s:
        return s.get(Contact, contact_id)


async def test_a_new_lead_is_created_assigned_and_her_advisor_told(client, runtime, sandbox):
    answer = await client.post("/api/leads", headers=AUTH, json={
        "name": "王芳", "phone": "+86 138-1234-5678", "city": "上海市", "channel": "web-form",
        "due_date": "预产期明年3月15号", "source": "官网表单", "note": "想了解待产包",
    })  # fmt: skip
    assert answer.status == 201
    body = await answer.json()
    her = lead(runtime, body["id"])
    assert (her.name, her.phone, her.city, her.channel_code) == ("王芳", "13812345678", "上海",
                                                                 "web-form")  # fmt: skip
    assert str(her.due_date) == "2027-03-15" and her.stage == "孕中期"
    assert her.external_userid is None and her.owner_userid == "zhangsan" == body["assigned_to"]
    with db.session(runtime.engine) as s:
        steps = leads.history(s, her.id)
        assert [(e.source, e.to_status) for e in steps] == [("intake", "new"), ("rule", "new")]
        assert "分配给zhangsan" in steps[1].note
    worker.run(runtime, burst=True)  # the relay queues the assignment, the worker tells him
    told = [m for m in sandbox.state.messages if m.touser == "zhangsan"]
    assert len(told) == 1
    assert "王芳" in told[0].content and "13812345678" in told[0].content
    assert "https://wework.qpic.cn/" in told[0].content  # her own QR code, to add him
    way = next(w for w in sandbox.state.contact_ways.values() if w["state"] == f"lead:{her.id}")
    assert way["type"] == 1 and way["user"] == ["zhangsan"]
    with db.session(runtime.engine) as s:
        sla = s.exec(select(SopTask).where(SopTask.target == f"c:{her.id}")).all()
        assert {t.step_id for t in sla} == {"remind", "escalate"}


async def test_leads_given_together_are_told_together_and_not_more_often_than_the_gap(
    client, runtime, sandbox
):
    """WeCom drops an app's messages to one member beyond 30 a minute: an advisor hears of
    the leads given to him at once in one message, and of later ones after the gap."""

    def told() -> list[str]:
        return [m.content for m in sandbox.state.messages if m.touser == "lisi"]

    for n in range(3):
        await client.post("/api/leads", headers=AUTH, json={
            "name": f"妈妈{n}", "phone": f"1390000001{n}", "source": "协和医院"})  # fmt: skip
    worker.run(runtime, burst=True)
    assert len(told()) == 1 and told()[0].startswith("新分配给你 3 条线索")
    assert all(f"妈妈{n}" in told()[0] for n in range(3))
    await client.post("/api/leads", headers=AUTH, json={
        "name": "妈妈3", "phone": "13900000013", "source": "协和医院"})  # fmt: skip
    runtime.clock.advance(assign.NOTICE_GAP - timedelta(seconds=1))
    worker.run(runtime, burst=True)
    assert len(told()) == 1  # he was told less than the gap ago: she waits
    runtime.clock.advance(timedelta(seconds=1))
    worker.run(runtime, burst=True)
    assert len(told()) == 2 and told()[1].startswith("新线索分配给你：妈妈3")
    with db.session(runtime.engine) as s:
        assert s.exec(select(func.count()).select_from(LeadNotice)).one() == 0


async def test_rules_route_by_source_and_take_turns(client, runtime):
    owners = []
    for n, source in enumerate(["协和医院", "官网表单", "官网表单", "官网表单"]):
        answer = await client.post("/api/leads", headers=AUTH,
                                   json={"phone": f"1390000000{n}", "source": source})  # fmt: skip
        owners.append((await answer.json())["assigned_to"])
    assert owners == ["lisi", "zhangsan", "lisi", "zhangsan"]


async def test_the_same_person_from_another_source_is_merged(client, runtime):
    first = await client.post("/api/leads", headers=AUTH, json={
        "name": "王芳", "phone": "13812345678", "city": "上海", "source": "官网表单"})  # fmt: skip
    again = await client.post("/api/leads", headers=AUTH, json={
        "name": "王小芳", "phone": "138 1234 5678", "city": "苏州", "source": "协和医院",
        "external_id": "XH-0042", "baby_birthday": "2026-10-01"})  # fmt: skip
    assert (first.status, again.status) == (201, 200)
    one, two = await first.json(), await again.json()
    assert one["id"] == two["id"] and two["result"] == "merged"
    assert two["conflicts"] == {"name": ["王芳", "王小芳"], "city": ["上海", "苏州"]}
    her = lead(runtime, one["id"])
    assert her.name == "王芳" and str(her.baby_birthday) == "2026-10-01"  # filled, not replaced
    assert counts(runtime) == (1, 2)
    by_source = await client.post("/api/leads", headers=AUTH, json={
        "source": "协和医院", "external_id": "XH-0042", "note": "复诊"})  # fmt: skip
    assert (await by_source.json())["id"] == one["id"]  # the source's own id finds her too


async def test_bad_requests_are_refused_and_write_nothing(client, runtime):
    no_token = await client.post("/api/leads", json={"phone": "13812345678"})
    wrong = await client.post("/api/leads", json={"phone": "13812345678"},
                              headers={"Authorization": "Bearer nope"})  # fmt: skip
    assert (no_token.status, wrong.status) == (401, 401)
    bad = await client.post("/api/leads", headers=AUTH, json={
        "name": "王芳", "phone": "12345", "due_date": "2031-01-01", "shoe_size": "38"})  # fmt: skip
    assert bad.status == 400
    fields = (await bad.json())["fields"]
    assert set(fields) == {"phone", "due_date", "shoe_size"}
    assert "mobile" in fields["phone"] and "300 days" in fields["due_date"]
    nobody = await client.post("/api/leads", headers=AUTH, json={"name": "王芳"})
    assert nobody.status == 400 and "phone" in (await nobody.json())["fields"]
    not_json = await client.post("/api/leads", headers=AUTH, data=b"{name: 1")
    assert not_json.status == 400 and "not JSON" in (await not_json.json())["error"]
    huge = await client.post("/api/leads", headers=AUTH,
                             data=json.dumps({"note": "x" * (1024 * 1024)}))  # fmt: skip
    assert huge.status == 413
    assert counts(runtime) == (0, 0)


async def test_an_idempotency_key_gives_the_first_answer_again(client, runtime):
    headers = {**AUTH, "Idempotency-Key": "form-7781"}
    body = {"name": "王芳", "phone": "13812345678"}
    first = await client.post("/api/leads", headers=headers, json=body)
    retry = await client.post("/api/leads", headers=headers, json=body)
    assert (first.status, retry.status) == (201, 201)
    assert (await first.json())["id"] == (await retry.json())["id"]
    assert counts(runtime) == (1, 1)
    other = await client.post("/api/leads", headers=headers, json={**body, "city": "上海"})
    assert other.status == 422 and counts(runtime) == (1, 1)


async def test_a_lead_who_adds_her_advisor_is_linked_not_doubled(client, runtime, sandbox):
    answer = await client.post("/api/leads", headers=AUTH, json={
        "name": "王芳", "phone": "13812345678", "due_date": "2027-03-15"})  # fmt: skip
    her_id = (await answer.json())["id"]
    worker.run(runtime, burst=True)
    follow, fields = added(sandbox.state, "芳芳", "zhangsan", channel=f"lead:{her_id}")
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    her = lead(runtime, her_id)
    assert her.external_userid == follow.external_userid and her.name == "芳芳"  # WeChat's
    assert counts(runtime) == (1, 1)
    with db.session(runtime.engine) as s:  # the name the form gave stays with its intake
        assert json.loads(s.exec(select(LeadIntake.fields)).one())["name"] == "王芳"
    assert not any(w["state"] == f"lead:{her_id}" for w in sandbox.state.contact_ways.values())
    with db.session(runtime.engine) as s:
        keys = s.exec(select(LeadIdentity.kind, LeadIdentity.value)
                      .where(LeadIdentity.contact_id == her_id)).all()  # fmt: skip
        assert ("external_userid", follow.external_userid) not in keys  # WeCom's: on her row
        keys = s.exec(select(SopTask.trigger_key).where(SopTask.target == f"c:{her_id}")).all()
        assert any(key.startswith("stage:孕中期") for key in keys)  # her stage's SOPs start


async def test_a_lead_found_by_the_phone_her_advisor_noted_is_linked(client, runtime, sandbox):
    answer = await client.post("/api/leads", headers=AUTH, json={"phone": "13812345678"})
    her_id = (await answer.json())["id"]
    follow, fields = added(sandbox.state, "芳芳", "lisi", channel="store-poster")
    follow.remark_mobiles = ["138-1234-5678"]
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    her = lead(runtime, her_id)
    assert her.external_userid == follow.external_userid and her.owner_userid == "lisi"
    assert counts(runtime)[0] == 1


async def test_two_leads_found_to_be_one_person_become_one(client, runtime):
    by_phone = await client.post("/api/leads", headers=AUTH, json={
        "name": "王芳", "phone": "13812345678", "city": "上海"})  # fmt: skip
    by_id = await client.post("/api/leads", headers=AUTH, json={
        "name": "王芳", "source": "协和医院", "external_id": "XH-1",
        "due_date": "2027-03-15"})  # fmt: skip
    one, two = (await by_phone.json())["id"], (await by_id.json())["id"]
    assert one != two and counts(runtime) == (2, 2)
    both = await client.post("/api/leads", headers=AUTH, json={
        "phone": "13812345678", "source": "协和医院", "external_id": "XH-1"})  # fmt: skip
    assert both.status == 200 and (await both.json())["id"] == one
    her = lead(runtime, one)
    assert str(her.due_date) == "2027-03-15" and her.city == "上海"  # nothing lost
    assert counts(runtime) == (1, 3)
    with db.session(runtime.engine) as s:
        notes = [e.note for e in leads.history(s, one)]
        assert any(f"原编号 {two}" in note for note in notes)
        assert merges.resolve(s, two) == one  # her other number still finds her


async def test_the_same_person_sent_twice_at_once_is_one_lead(client, runtime):
    body = {"name": "王芳", "phone": "13812345678"}
    answers = await asyncio.gather(*(client.post("/api/leads", headers=AUTH, json=body)
                                     for _ in range(6)))  # fmt: skip
    ids = {(await answer.json())["id"] for answer in answers}
    assert len(ids) == 1 and sorted(a.status for a in answers) == [200] * 5 + [201]
    assert counts(runtime) == (1, 6)


async def test_a_retry_sent_before_the_first_answer_gets_the_same_one(client, runtime):
    headers = {**AUTH, "Idempotency-Key": "form-7782"}
    body = {"name": "王芳", "phone": "13812345678"}
    answers = await asyncio.gather(*(client.post("/api/leads", headers=headers, json=body)
                                     for _ in range(4)))  # fmt: skip
    assert [answer.status for answer in answers] == [201] * 4
    assert len({(await answer.json())["id"] for answer in answers}) == 1
    assert counts(runtime) == (1, 1)


async def test_a_phone_her_advisor_noted_in_wecom_merges_her_with_a_partners_lead(
    client, runtime, sandbox
):
    follow, fields = added(sandbox.state, "小雨", "zhangsan")
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    follow.remark_mobiles = ["138-1234-5678"]  # 张顾问 notes her phone: an edit event
    deliver(runtime, contact_event("edit_external_contact", CORP_ID, "zhangsan",
                                   follow.external_userid, follow.createtime + 60))  # fmt: skip
    worker.run(runtime, burst=True)
    answer = await client.post("/api/leads", headers=AUTH, json={
        "name": "王小雨", "phone": "13812345678", "source": "协和医院"})  # fmt: skip
    assert answer.status == 200
    her = lead(runtime, (await answer.json())["id"])
    assert her.external_userid == follow.external_userid and her.owner_userid == "zhangsan"
    assert counts(runtime) == (1, 1)


async def test_a_known_phone_is_never_told_back_to_a_caller(client, runtime):
    await client.post("/api/leads", headers=AUTH, json={
        "phone": "13812345678", "source": "协和医院", "external_id": "XH-9"})  # fmt: skip
    again = await client.post("/api/leads", headers=AUTH, json={
        "phone": "13900001111", "source": "协和医院", "external_id": "XH-9"})  # fmt: skip
    assert (await again.json())["conflicts"] == {"phone": ["138****5678", "13900001111"]}


async def test_two_wecom_customers_sharing_a_phone_stay_two(client, runtime, sandbox):
    for name, number in (("小雨", "13812345678"), ("阿敏", "13812345678")):
        follow, fields = added(sandbox.state, name, "zhangsan")
        follow.remark_mobiles = [number]
        deliver(runtime, fields)
        worker.run(runtime, burst=True)
    answer = await client.post("/api/leads", headers=AUTH, json={"phone": "13812345678"})
    assert answer.status == 200 and counts(runtime)[0] == 2
    with db.session(runtime.engine) as s:
        notes = [e.note for e in leads.history(s, (await answer.json())["id"])]
    assert any("没有合并" in note for note in notes)


async def test_a_lost_mother_sent_again_is_a_new_lead_again(client, runtime, sandbox):
    follow, fields = added(sandbox.state, "小雨", "zhangsan")
    follow.remark_mobiles = ["13812345678"]
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    sandbox.state.unfriend("zhangsan", follow.external_userid)
    deliver(runtime, contact_event("del_follow_user", CORP_ID, "zhangsan",
                                   follow.external_userid, follow.createtime + 60))  # fmt: skip
    worker.run(runtime, burst=True)
    answer = await client.post("/api/leads", headers=AUTH, json={
        "phone": "13812345678", "source": "门店活动"})  # fmt: skip
    her = lead(runtime, (await answer.json())["id"])
    assert answer.status == 200 and her.status == "new" and her.lost_reason is None
    with db.session(runtime.engine) as s:
        assert leads.history(s, her.id)[-1].note == "重新进线：门店活动"
