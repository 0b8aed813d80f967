"""The callback endpoint over real HTTP, with a real Redis and a real database."""

from datetime import datetime

import pytest
from rq import Queue

from bot import heartbeat
from bot import runtime as runtime_module
from bot.server import INGESTOR, create_app
from crm.context import REALTIME
from store import inbox
from tests.support import AES_KEY, CORP_ID, TOKEN, TZ, make_settings
from wecom.crypto import WeComCrypto
from wecom.sandbox.driver import CallbackDriver, contact_event, to_xml


@pytest.fixture
async def client(aiohttp_client, runtime):
    return await aiohttp_client(create_app(runtime))


CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
NOW = str(int(datetime(2026, 11, 22, 10, 0, tzinfo=TZ).timestamp()))  # the clock fixture's


def signed(plain: str, crypto: WeComCrypto = CRYPTO, *, timestamp: str = NOW):
    encrypted = crypto.encrypt(plain)
    params = {
        "msg_signature": crypto.sign(timestamp, "n1", encrypted),
        "timestamp": timestamp,
        "nonce": "n1",
    }
    body = f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt>{encrypted}</Encrypt></xml>"
    return params, body


def added(external: str = "wmA", create_time: int = 1700000000) -> str:
    return to_xml(
        contact_event(
            "add_external_contact",
            CORP_ID,
            "zhangsan",
            external,
            create_time,
            State="xhs",
            WelcomeCode="WC",
        )
    )


def queued_rows(runtime) -> int:
    """Inbox rows waiting in rq jobs (one job carries up to a few rows), each once."""
    rows = [row for job in Queue(REALTIME, connection=runtime.redis).jobs for row in job.args]
    assert len(rows) == len(set(rows))
    return len(rows)


async def settled(client) -> None:
    """Until the new rows are on Redis (or left to the relay): that happens after the 200."""
    assert await client.app[INGESTOR].settled()


def counts(runtime):
    with runtime.engine.connect() as c:
        return inbox.counts_by_status(c)


async def test_url_verification(client):
    encrypted = CRYPTO.encrypt("1288432023552776189")
    params = {
        "msg_signature": CRYPTO.sign("1", "2", encrypted),
        "timestamp": "1",
        "nonce": "2",
        "echostr": encrypted,
    }
    response = await client.get("/wecom/callback", params=params)
    assert response.status == 200 and await response.text() == "1288432023552776189"
    params["nonce"] = "3"
    response = await client.get("/wecom/callback", params=params)
    assert response.status == 403
    params["msg_signature"] = "签名"  # not even ASCII: a 403, not a crash
    response = await client.get("/wecom/callback", params=params)
    assert response.status == 403


async def test_wecoms_cdata_envelope_is_read(client, runtime, clock):
    clock.set(datetime.now(TZ))  # the driver signs with the real time
    params, body = CallbackDriver(CRYPTO, CORP_ID).envelope(added())
    response = await client.post("/wecom/callback", params=params, data=body)
    assert response.status == 200 and counts(runtime) == {"queued": 1}
    await settled(client)


async def test_valid_callback_is_stored_queued_and_acked_empty(client, runtime):
    params, body = signed(added())
    response = await client.post("/wecom/callback", params=params, data=body)
    assert response.status == 200 and await response.read() == b""
    assert counts(runtime) == {"queued": 1}
    await settled(client)
    queue = Queue(REALTIME, connection=runtime.redis)
    assert queue.count == 1
    job = queue.jobs[0]
    assert job.func_name == "bot.jobs.handle_inbound"


async def test_retries_of_one_callback_make_one_row_and_one_job(client, runtime):
    plain = added()
    for _ in range(3):  # WeCom re-encrypts each retry with a fresh random prefix
        params, body = signed(plain)
        assert (await client.post("/wecom/callback", params=params, data=body)).status == 200
    params, body = signed(added("wmB"))  # another mother, same advisor, same second
    assert (await client.post("/wecom/callback", params=params, data=body)).status == 200
    assert counts(runtime) == {"queued": 2}
    await settled(client)
    assert queued_rows(runtime) == 2


async def test_concurrent_callbacks_are_all_stored(client, runtime):
    import asyncio

    async def send(i: int):
        params, body = signed(added(f"wm{i % 40}"))
        return (await client.post("/wecom/callback", params=params, data=body)).status

    statuses = await asyncio.gather(*(send(i) for i in range(120)))
    assert set(statuses) == {200}
    assert counts(runtime) == {"queued": 40}
    await settled(client)
    assert queued_rows(runtime) == 40


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("bad_signature", 403),
        ("other_corp", 403),
        ("missing_params", 400),
        ("not_xml", 400),
        ("no_encrypt", 400),
        ("garbage_ciphertext", 400),
        ("decrypts_to_garbage", 400),
        ("entity_bomb", 403),  # unsigned: refused before anything is parsed
        ("inner_not_a_callback", 400),
        ("non_ascii_signature", 403),
        ("deeply_nested_unsigned", 400),
        ("deeply_nested_signed", 400),
        ("non_ascii_encrypt", 400),
    ],
)
async def test_bad_input_gets_a_clear_4xx_and_stores_nothing(client, runtime, case, status):
    params, body = signed(added())
    if case == "bad_signature":
        params["msg_signature"] = "0" * 40
    elif case == "other_corp":
        params, body = signed(added(), WeComCrypto(TOKEN, AES_KEY, "wwanothercorp"))
    elif case == "missing_params":
        del params["nonce"]
    elif case == "not_xml":
        body = "{'json': 'instead'}"
    elif case == "no_encrypt":
        body = "<xml><ToUserName>x</ToUserName></xml>"
    elif case == "garbage_ciphertext":
        params["msg_signature"] = CRYPTO.sign(params["timestamp"], "n1", "%%%")
        body = "<xml><Encrypt>%%%</Encrypt></xml>"
    elif case == "decrypts_to_garbage":
        params, body = signed("this is not xml")
    elif case == "entity_bomb":
        body = (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            "<xml><Encrypt>&b;</Encrypt></xml>"
        )
    elif case == "inner_not_a_callback":
        params, body = signed("<xml><Content>no MsgType</Content></xml>")
    elif case == "non_ascii_signature":
        params["msg_signature"] = "签名" * 20
    elif case == "deeply_nested_unsigned":
        body = "<xml>" + "<a>" * 1000 + "</a>" * 1000 + "</xml>"
    elif case == "deeply_nested_signed":
        params, body = signed("<xml><MsgType>text</MsgType>" + "<a>" * 1000 + "x"
                              + "</a>" * 1000 + "</xml>")  # fmt: skip
    elif case == "non_ascii_encrypt":
        body = "<xml><Encrypt>加密</Encrypt></xml>"
    response = await client.post("/wecom/callback", params=params, data=body)
    assert response.status == status
    assert (await response.text()).strip()  # says why
    assert counts(runtime) == {}


async def test_body_over_one_mebibyte_is_413(client, runtime):
    response = await client.post(
        "/wecom/callback",
        params={"msg_signature": "x", "timestamp": NOW, "nonce": "1"},
        data=b"<xml>" + b"a" * (1024 * 1024 + 10),
    )
    assert response.status == 413
    assert counts(runtime) == {}


async def test_redis_down_still_stores_and_acks(aiohttp_client, tmp_path, clock):
    from tests.support import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    settings = make_settings(tmp_path, redis={"url": server.url})
    rt = runtime_module.build(settings, clock)
    client = await aiohttp_client(create_app(rt))
    server.stop()
    try:
        params, body = signed(added())
        response = await client.post("/wecom/callback", params=params, data=body)
        assert response.status == 200
        await settled(client)
        assert counts(rt) == {"received": 1}
        health = await client.get("/healthz")
        assert health.status == 503
        assert (await health.json())["redis"].startswith("unreachable")
    finally:
        rt.close()


async def test_database_failure_is_503_so_wecom_retries(client, runtime):
    with runtime.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE inbound_events")
    params, body = signed(added())
    response = await client.post("/wecom/callback", params=params, data=body)
    assert response.status == 503


async def test_healthz_503_when_the_database_fails(client, runtime):
    with runtime.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE inbound_events")
    response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["database"].startswith("unreachable") and body["redis"] == "ok"


async def test_healthz_ok(client, runtime):
    params, body = signed(added())
    await client.post("/wecom/callback", params=params, data=body)
    beat = heartbeat.Beat(
        "host", 1, "2026-11-22T10:00:00+08:00", 16, 0, "2026-11-22T10:00:00+08:00"
    )
    heartbeat.beat(runtime.redis, beat)  # a live worker
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {
        "database": "ok",
        "redis": "ok",
        "workers": 1,
        "inbox": {"queued": 1},
        "status": "ok",
    }
