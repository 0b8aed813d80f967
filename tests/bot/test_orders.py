"""Orders over real HTTP (POST /api/orders) and from a CSV (`mombot orders import`): kept once
per order id, hers by any key (a buyer nobody knows becomes a lead), value tiers counted from
them, and the tier_entered SOP asking her advisor to reach out."""

from datetime import timedelta

import pytest
from sqlmodel import func, select

from bot import worker
from bot.cli import main
from bot.server import create_app
from crm import config, tiers
from store import db
from store.models import Contact, Order, SopTask
from tests.support import new_lead, reconfigure, settings_data

TOKEN = "intake-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client(aiohttp_client, runtime):
    data = settings_data(runtime)
    data["api"] = {"intake_token": TOKEN}
    data["tiers"] = {"tag_group": "客户价值"}
    reconfigure(runtime, data)
    return await aiohttp_client(create_app(runtime))


def her(runtime, contact_id) -> Contact:
    with db.session(runtime.engine) as s:
        return s.get(Contact, contact_id)


def order_count(runtime) -> int:
    with db.session(runtime.engine) as s:
        return s.exec(select(func.count()).select_from(Order)).one()


async def test_an_order_is_kept_once_and_gives_her_a_tier(client, runtime, sandbox, clock):
    mother = new_lead(runtime, sandbox)
    order = {"order_id": "TM20261120001", "external_userid": mother.external_userid,
             "amount": "398.00", "ordered_at": "2026-11-20 14:30", "items": ["纸尿裤L码", "湿巾"],
             "source": "天猫旗舰店"}  # fmt: skip
    answer = await client.post("/api/orders", headers=AUTH, json=order)
    assert answer.status == 201
    assert await answer.json() == {"order_id": "TM20261120001", "result": "created",
                                   "id": mother.id, "tier": "潜力"}  # fmt: skip
    again = await client.post("/api/orders", headers=AUTH, json=order)  # a retry
    assert again.status == 200 and (await again.json())["result"] == "exists"
    changed = await client.post("/api/orders", headers=AUTH, json=order | {"amount": 1})
    assert changed.status == 409 and (await changed.json())["result"] == "conflict"
    assert order_count(runtime) == 1
    with db.session(runtime.engine) as s:
        kept = s.exec(select(Order)).one()
    assert (kept.amount_cents, kept.items, kept.source) == (39800, "纸尿裤L码、湿巾", "天猫旗舰店")
    assert kept.ordered_at.isoformat() == "2026-11-20T06:30:00+00:00"  # 14:30 in Shanghai
    worker.run(runtime, burst=True)  # the tier's tag in WeCom
    assert "潜力" in sandbox.state.tag_names("zhangsan", mother.external_userid)


async def test_a_buyer_nobody_knows_becomes_a_lead_found_by_her_phone_next_time(client, runtime):
    first = await client.post("/api/orders", headers=AUTH, json={
        "order_id": "JD-1", "phone": "13912345678", "name": "陈静", "amount": 1200,
        "ordered_at": "2026-11-01T10:00:00+08:00"})  # fmt: skip
    body = await first.json()
    assert first.status == 201 and body["new_lead"] is True
    lead = her(runtime, body["id"])
    assert (lead.name, lead.phone, lead.source) == ("陈静", "13912345678", "订单")
    second = await client.post("/api/orders", headers=AUTH, json={
        "order_id": "JD-2", "phone": "139 1234 5678", "amount": 900,
        "ordered_at": "2026-11-15"})  # fmt: skip
    assert (await second.json())["id"] == lead.id  # the same person, no second lead
    assert her(runtime, lead.id).tier == "高价值"  # 2,100 元 within the year, bought lately


async def test_bad_orders_are_refused_naming_each_field_and_nothing_is_kept(client, runtime):
    answer = await client.post(
        "/api/orders",
        headers=AUTH,
        json={"order_id": "X1", "amount": "很多", "ordered_at": "2099-01-01", "colour": "red"},
    )
    assert answer.status == 400
    fields = (await answer.json())["fields"]
    assert set(fields) == {"amount", "ordered_at", "colour"}
    assert "in the future" in fields["ordered_at"]
    batch = await client.post("/api/orders", headers=AUTH, json=[
        {"order_id": "X2", "phone": "13912345678", "amount": 1, "ordered_at": "2026-11-01"},
        {"order_id": "X3", "amount": 1, "ordered_at": "2026-11-01"},
    ])  # fmt: skip
    assert batch.status == 400
    assert list((await batch.json())["orders"]) == ["1"]  # the second names no buyer
    assert (await client.post("/api/orders", json={})).status == 401
    for body in (b"1" * 5000, b"[" * 100_000, b'{"order_id": "X\\u0000", "phone": "13912345678",'
                 b' "amount": 1, "ordered_at": "2026-11-01"}'):  # fmt: skip
        refused = await client.post("/api/orders", headers=AUTH, data=body)
        assert refused.status == 400, body[:40]
    assert order_count(runtime) == 0


def test_time_moves_her_tier_and_the_tier_sop_asks_her_advisor(runtime, sandbox, clock, tmp_path,
                                                               capsys):  # fmt: skip
    mother = new_lead(runtime, sandbox)
    csv_file = tmp_path / "orders.csv"
    csv_file.write_bytes(
        "订单号,收货人手机,实付金额,付款时间,商品名称,店铺\n"
        "A1,13812345678,680,2026-06-01 09:00,奶粉,门店\n"
        "A2,13812345678,680,2026-07-01 09:00,奶粉,门店\n"
        "A3,13812345678,680,2026-11-01 09:00,奶粉,门店\n"
        "A4,12345,80,2026-11-01 09:00,湿巾,门店\n".encode("gbk")
    )
    with db.session(runtime.engine) as s:  # her advisor noted her phone
        found = s.get(Contact, mother.id)
        found.phone = "13812345678"
        s.add(found)
        s.commit()
    path = config.write(tmp_path / "config.toml", settings_data(runtime))
    assert main(["--config", str(path), "orders", "import", str(csv_file)]) == 0
    out = capsys.readouterr().out
    assert "row 5: rejected: A4: phone: not a mainland China mobile number" in out
    assert "4 rows: 3 kept, 0 exists, 0 conflict, 1 rejected" in out
    assert her(runtime, mother.id).tier == "高价值"  # bought 3 times this year, the last lately

    clock.set(clock.now() + timedelta(days=40))  # 2 months since her last order
    with runtime.context() as ctx:
        assert tiers.refresh(ctx.engine, ctx.settings, clock.now()) == 1
    assert her(runtime, mother.id).tier == "流失风险"
    worker.run(runtime, burst=True)
    with db.session(runtime.engine) as s:
        planned = s.exec(select(SopTask).where(SopTask.target == f"c:{mother.id}",
                                               SopTask.sop_id == "tier-at-risk")).all()  # fmt: skip
    assert [(t.step_id, t.trigger_key) for t in planned] == [("call", "tier:流失风险:2027-01-01")]
    assert main(["--config", str(path), "orders", "import", str(csv_file)]) == 0
    assert "0 kept, 3 exists" in capsys.readouterr().out  # idempotent on the order id


def test_an_order_file_without_amounts_is_refused_whole(runtime, tmp_path, capsys):
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("order_id,phone\nA1,13812345678\n", encoding="utf-8")
    path = config.write(tmp_path / "config.toml", settings_data(runtime))
    assert main(["--config", str(path), "orders", "import", str(csv_file)]) == 2
    assert "no column for amount" in capsys.readouterr().err
    assert order_count(runtime) == 0


def test_an_import_of_new_buyers_assigns_them_and_tells_each_advisor_once(
    runtime, sandbox, tmp_path, capsys
):
    data = settings_data(runtime)
    data["assign"] = [{"name": "订单新客", "sources": ["门店"], "advisors": ["lisi", "wangwu"]}]
    reconfigure(runtime, data)
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text(
        "订单号,收货人,收货人手机,实付金额,付款时间,店铺\n"
        + "".join(f"B{i},妈妈{i},1390000000{i},99,2026/11/20 9:3{i},门店\n" for i in range(4)),
        encoding="utf-8",
    )
    path = config.write(tmp_path / "config.toml", settings_data(runtime))
    assert main(["--config", str(path), "orders", "import", str(csv_file)]) == 0
    out = capsys.readouterr().out
    assert "4 rows: 4 kept" in out and "4 buyer(s) new to mombot became leads" in out
    assert "new buyers assigned to lisi: 2" in out and "new buyers assigned to wangwu: 2" in out
    worker.run(runtime, burst=True)
    for userid in ("lisi", "wangwu"):
        (digest,) = [m for m in sandbox.state.delivered_to(userid) if "新分配给你" in m]
        assert digest.startswith("新分配给你 2 条线索")
