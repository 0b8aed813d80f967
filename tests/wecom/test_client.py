"""WeComClient against a respx-mocked WeCom API and a real Redis (the `redis` fixture)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from wecom import client as wecom
from wecom.client import (
    WeComBusy,
    WeComClient,
    WeComError,
    WeComRateLimited,
    WeComTokenError,
    WeComUnavailable,
    is_transient,
)

API = "http://wecom-mock.test:8080"
CORP = "ww-test-corp"
SECRET = "S3cret-Value-That-Must-Never-Leak"
TOKEN_1 = "tok-first-7f3a9c"
TOKEN_2 = "tok-second-b81e44"


def ok(**data) -> httpx.Response:
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", **data})


def err(errcode: int, errmsg: str = "failed") -> httpx.Response:
    return httpx.Response(200, json={"errcode": errcode, "errmsg": errmsg})


def token_ok(token: str) -> httpx.Response:
    return ok(access_token=token, expires_in=7200)


def tokens_used(route) -> list[str]:
    return [call.request.url.params["access_token"] for call in route.calls]


def token_keys(redis) -> list[str]:
    return [k.decode() for k in redis.keys("mombot:wecom:token:*") if not k.endswith(b":lock")]


# Tokens ----------------------------------------------------------------------------------


def test_token_fetched_once_and_cached_across_clients(api, gettoken, make_client, redis):
    user_get = api.get("/cgi-bin/user/get").mock(return_value=ok(userid="u1"))

    first, second = make_client(), make_client()
    assert first.get("user/get", userid="u1")["userid"] == "u1"
    assert second.get("user/get", userid="u1")["userid"] == "u1"
    assert first.get("user/get", userid="u1")["userid"] == "u1"

    assert gettoken.call_count == 1
    params = gettoken.calls[0].request.url.params
    assert params["corpid"] == CORP
    assert params["corpsecret"] == SECRET
    assert tokens_used(user_get) == [TOKEN_1] * 3
    assert user_get.calls[0].request.url.params["userid"] == "u1"

    [key] = token_keys(redis)
    assert SECRET not in key and CORP in key
    assert redis.get(key) == TOKEN_1.encode()
    assert 6800 < redis.ttl(key) <= 7200 - 300


def test_a_process_reuses_the_token_without_asking_redis_again(api, gettoken, make_client, redis):
    user_get = api.get("/cgi-bin/user/get").mock(return_value=ok(userid="u1"))
    other = make_client()
    other.get("user/get", userid="u1")  # another process fetched it
    client = make_client()
    client.get("user/get", userid="u1")  # read from Redis, remembered
    [key] = token_keys(redis)
    redis.set(key, "tok-in-redis-now", ex=100)
    client.get("user/get", userid="u1")
    assert tokens_used(user_get)[-1] == TOKEN_1  # no round trip to Redis for it
    assert make_client().get("user/get", userid="u1")["userid"] == "u1"
    assert tokens_used(user_get)[-1] == "tok-in-redis-now"  # a fresh client reads Redis
    assert gettoken.call_count == 1


def test_a_remembered_token_is_dropped_when_wecom_rejects_it(api, gettoken, make_client, redis):
    route = api.get("/cgi-bin/user/get").mock(side_effect=[ok(), err(42001), ok()])
    client = make_client()
    client.get("user/get", userid="u1")
    [key] = token_keys(redis)
    redis.set(key, "tok-from-other-process", ex=100)  # refreshed elsewhere meanwhile
    client.get("user/get", userid="u1")
    assert tokens_used(route) == [TOKEN_1, TOKEN_1, "tok-from-other-process"]
    assert gettoken.call_count == 1


def test_post_and_upload_send_body_and_params(api, gettoken, make_client):
    tag = api.post("/cgi-bin/externalcontact/mark_tag").mock(return_value=ok())
    upload = api.post("/cgi-bin/media/upload").mock(return_value=ok(media_id="m-1"))
    client = make_client()

    body = {"userid": "advisor", "external_userid": "wm1", "add_tag": ["孕期"]}
    assert client.post("externalcontact/mark_tag", json=body)["errcode"] == 0
    assert json.loads(tag.calls[0].request.content) == body
    assert tokens_used(tag) == [TOKEN_1]

    result = client.upload("media/upload", type="image", files={"media": ("c.png", b"PNGDATA")})
    assert result["media_id"] == "m-1"
    request = upload.calls[0].request
    assert request.url.params["type"] == "image"
    assert request.url.params["access_token"] == TOKEN_1
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b"PNGDATA" in request.content and b'filename="c.png"' in request.content
    assert gettoken.call_count == 1


@pytest.mark.parametrize("errcode", [42001, 40014])
def test_token_error_refreshes_and_retries_once(api, gettoken, make_client, redis, errcode):
    route = api.get("/cgi-bin/externalcontact/get").mock(
        side_effect=[err(errcode, "access_token expired"), ok(external_contact={"name": "A"})]
    )
    client = make_client()

    assert client.get("externalcontact/get", external_userid="wm1")["external_contact"] == {
        "name": "A"
    }
    assert gettoken.call_count == 2
    assert tokens_used(route) == [TOKEN_1, TOKEN_2]
    [key] = token_keys(redis)
    assert redis.get(key) == TOKEN_2.encode()


def test_token_error_keeps_a_token_another_process_already_refreshed(
    api, gettoken, make_client, redis
):
    def expired_after_someone_refreshed(request: httpx.Request) -> httpx.Response:
        [key] = token_keys(redis)
        redis.set(key, "tok-from-other-process")
        return err(42001)

    route = api.get("/cgi-bin/user/get").mock(side_effect=[expired_after_someone_refreshed, ok()])
    make_client().get("user/get", userid="u1")

    assert gettoken.call_count == 1  # the newer token was not deleted, so no second gettoken
    assert tokens_used(route) == [TOKEN_1, "tok-from-other-process"]


def test_second_token_error_raises(api, gettoken, make_client, redis, sleeps):
    route = api.get("/cgi-bin/user/get").mock(return_value=err(40014, "invalid access_token"))

    with pytest.raises(WeComTokenError) as caught:
        make_client().get("user/get", userid="u1")

    assert caught.value.errcode == 40014
    assert caught.value.path == "user/get"
    assert not is_transient(caught.value)
    assert route.call_count == 2
    assert gettoken.call_count == 2
    assert sleeps == []
    assert token_keys(redis) == []  # the rejected token is not kept for the next call


def test_gettoken_failure_is_a_token_error_and_releases_the_lock(api, make_client, redis):
    gettoken = api.get("/cgi-bin/gettoken").mock(return_value=err(40001, "invalid secret"))
    route = api.get("/cgi-bin/user/get").mock(return_value=ok())

    with pytest.raises(WeComTokenError) as caught:
        make_client().get("user/get", userid="u1")

    assert caught.value.errcode == 40001
    assert caught.value.path == "gettoken"
    assert gettoken.call_count == 1
    assert route.call_count == 0
    assert redis.keys("mombot:wecom:token:*") == []  # neither a token nor a leftover lock


# Busy, rate limits, network ----------------------------------------------------------------


@pytest.mark.parametrize("errcode", [-1, 45009, 45033])
def test_busy_and_rate_limit_back_off_then_succeed(api, gettoken, make_client, sleeps, errcode):
    route = api.get("/cgi-bin/user/get").mock(
        side_effect=[err(errcode), err(errcode), ok(userid="u1")]
    )

    assert make_client().get("user/get", userid="u1")["userid"] == "u1"
    assert sleeps == [1.0, 2.0]
    assert route.call_count == 3
    assert gettoken.call_count == 1


@pytest.mark.parametrize(
    ("errcode", "error_type"),
    [(-1, WeComBusy), (45009, WeComRateLimited), (45033, WeComRateLimited)],
)
def test_busy_gives_up_after_max_retries(api, gettoken, make_client, sleeps, errcode, error_type):
    route = api.post("/cgi-bin/message/send").mock(return_value=err(errcode, "busy"))

    with pytest.raises(error_type) as caught:
        make_client().post("message/send", json={"touser": "u1"})

    assert caught.value.errcode == errcode
    assert is_transient(caught.value)
    assert sleeps == [1.0, 2.0, 4.0]
    assert route.call_count == 4


def test_max_busy_retries_is_configurable(api, gettoken, make_client, sleeps):
    route = api.get("/cgi-bin/user/get").mock(return_value=err(-1))

    with pytest.raises(WeComBusy):
        make_client(max_busy_retries=1).get("user/get")

    assert sleeps == [1.0]
    assert route.call_count == 2


def test_transport_error_and_5xx_are_retried(api, gettoken, make_client, sleeps):
    route = api.get("/cgi-bin/user/get").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(502), ok(userid="u1")]
    )

    assert make_client().get("user/get", userid="u1")["userid"] == "u1"
    assert sleeps == [1.0, 2.0]
    assert route.call_count == 3


def test_a_deadline_stops_retries_that_would_outlast_it(api, gettoken, make_client, sleeps):
    client = make_client()
    client.access_token()  # the token is cached: only the call itself counts
    route = api.get("/cgi-bin/user/get").mock(side_effect=httpx.ReadTimeout("slow"))
    with wecom.deadline(0.5), pytest.raises(WeComUnavailable):
        client.get("user/get", userid="u1")
    assert route.call_count == 1 and sleeps == []  # a 1 s backoff would outlast 0.5 s
    timeouts = route.calls[0].request.extensions["timeout"]
    assert 0 < timeouts["read"] <= 0.5  # the attempt's timeout is cut to what is left


def test_a_passed_deadline_makes_no_call(api, gettoken, make_client):
    client = make_client()
    client.access_token()
    route = api.get("/cgi-bin/user/get").mock(return_value=ok())
    with wecom.deadline(0), pytest.raises(WeComUnavailable, match="deadline"):
        client.get("user/get")
    assert route.call_count == 0
    assert client.get("user/get") == {"errcode": 0, "errmsg": "ok"}  # outside: as before


def test_gettoken_transport_error_is_retried(api, make_client, sleeps):
    gettoken = api.get("/cgi-bin/gettoken").mock(
        side_effect=[httpx.ReadTimeout("slow"), token_ok(TOKEN_1)]
    )
    route = api.get("/cgi-bin/user/get").mock(return_value=ok())

    make_client().get("user/get")
    assert gettoken.call_count == 2
    assert sleeps == [1.0]
    assert tokens_used(route) == [TOKEN_1]


def test_network_gives_up_as_unavailable(api, gettoken, make_client, sleeps):
    route = api.get("/cgi-bin/user/get").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(WeComUnavailable) as caught:
        make_client().get("user/get")

    assert caught.value.errcode is None
    assert is_transient(caught.value)
    assert sleeps == [1.0, 2.0, 4.0]
    assert route.call_count == 4


def test_other_errcodes_raise_at_once(api, gettoken, make_client, sleeps):
    route = api.post("/cgi-bin/externalcontact/send_welcome_msg").mock(
        return_value=err(41051, "welcome msg already sent")
    )

    with pytest.raises(WeComError) as caught:
        make_client().post("externalcontact/send_welcome_msg", json={"welcome_code": "w"})

    assert type(caught.value) is WeComError
    assert (caught.value.errcode, caught.value.errmsg) == (41051, "welcome msg already sent")
    assert caught.value.path == "externalcontact/send_welcome_msg"
    assert not is_transient(caught.value)
    assert route.call_count == 1
    assert sleeps == []


# Where requests go, what leaks ---------------------------------------------------------------


def test_every_request_goes_to_the_configured_api_base(api, gettoken, make_client):
    api.get("/cgi-bin/user/get").mock(return_value=ok())
    api.post("/cgi-bin/message/send").mock(return_value=ok())
    client = make_client(api_base=API + "/")  # a trailing slash is tolerated

    client.get("user/get", userid="u1")
    client.post("message/send", json={"touser": "u1"})

    urls = [str(call.request.url) for call in api.calls]
    assert len(urls) == 3
    assert all(url.startswith(API + "/cgi-bin/") for url in urls)
    assert "qyapi" not in Path(wecom.__file__).read_text()


def test_secret_and_token_never_in_errors_or_logs(api, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    api.get("/cgi-bin/gettoken").mock(
        side_effect=[token_ok(TOKEN_1), token_ok(TOKEN_2), err(40001, f"bad {SECRET}")]
    )
    api.get("/cgi-bin/user/get").mock(return_value=err(42001, "access_token expired"))

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    api.post("/cgi-bin/message/send").mock(side_effect=unreachable)
    client = make_client(max_busy_retries=1)

    errors: list[Exception] = []
    for call in (
        lambda: client.post("message/send", json={}),  # transport error naming the URL
        lambda: client.get("user/get", userid="u1"),  # token error twice
        lambda: client.get("user/get", userid="u1"),  # third gettoken: bad secret echoed
    ):
        with pytest.raises(WeComError) as caught:
            call()
        errors.append(caught.value)

    assert [type(e) for e in errors] == [WeComUnavailable, WeComTokenError, WeComTokenError]
    assert "HTTP Request" in caplog.text  # httpx's request lines were captured (and masked)
    assert "access_token=***" in caplog.text
    texts = [caplog.text, repr(client)] + [str(e) for e in errors] + [repr(e) for e in errors]
    for text in texts:
        for secret in (SECRET, TOKEN_1, TOKEN_2):
            assert secret not in text


# Concurrency ---------------------------------------------------------------------------------


def test_two_clients_on_an_empty_cache_cause_one_gettoken(api, redis, redis_server):
    assert token_keys(redis) == []  # `redis` flushed the server: the cache is empty
    fetching, release, polled = threading.Event(), threading.Event(), threading.Event()

    def slow_gettoken(request: httpx.Request) -> httpx.Response:
        fetching.set()
        release.wait(5)
        return token_ok(TOKEN_1)

    gettoken = api.get("/cgi-bin/gettoken").mock(side_effect=slow_gettoken)
    user_get = api.get("/cgi-bin/user/get").mock(return_value=ok())

    def polling_sleep(seconds: float) -> None:
        polled.set()
        time.sleep(seconds)

    results: list[str] = []

    def run(sleep) -> None:
        connection = redis_lib.Redis.from_url(redis_server.url)
        client = WeComClient(
            api_base=API, corp_id=CORP, secret=SECRET, redis=connection, sleep=sleep
        )
        try:
            results.append(client.get("user/get")["errmsg"])
        finally:
            client.close()
            connection.close()

    first = threading.Thread(target=run, args=(time.sleep,))
    second = threading.Thread(target=run, args=(polling_sleep,))
    first.start()
    assert fetching.wait(5), "the first client never called gettoken"
    second.start()
    assert polled.wait(5), "the second client did not wait for the lock holder"
    release.set()
    first.join(10)
    second.join(10)

    assert results == ["ok", "ok"]
    assert gettoken.call_count == 1
    assert len(token_keys(redis)) == 1
    assert tokens_used(user_get) == [TOKEN_1, TOKEN_1]


def test_simultaneous_start_causes_one_gettoken(api, redis, redis_server):
    def slow_gettoken(request: httpx.Request) -> httpx.Response:
        time.sleep(0.2)
        return token_ok(TOKEN_1)

    gettoken = api.get("/cgi-bin/gettoken").mock(side_effect=slow_gettoken)
    api.get("/cgi-bin/user/get").mock(return_value=ok())
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        connection = redis_lib.Redis.from_url(redis_server.url)
        client = WeComClient(api_base=API, corp_id=CORP, secret=SECRET, redis=connection)
        try:
            barrier.wait(5)
            client.get("user/get")
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert gettoken.call_count == 1
    assert len(token_keys(redis)) == 1


def test_waiter_uses_the_token_that_appears(api, gettoken, make_client, redis, sleeps):
    client = make_client()
    redis.set(client._lock_key, "held-by-another-process", px=60_000)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            redis.set(client._token_key, "tok-from-lock-holder")

    client._sleep = sleep
    route = api.get("/cgi-bin/user/get").mock(return_value=ok())

    client.get("user/get")
    assert gettoken.call_count == 0
    assert tokens_used(route) == ["tok-from-lock-holder"]
    assert sleeps == [wecom.POLL_INTERVAL] * 3


def test_waiting_for_another_refresh_is_bounded(api, gettoken, make_client, redis, sleeps):
    client = make_client(timeout=1.0, max_busy_retries=0)
    redis.set(client._lock_key, "held-by-a-stuck-process", px=60_000)

    with pytest.raises(WeComUnavailable) as caught:
        client.get("user/get")

    assert is_transient(caught.value)
    assert gettoken.call_count == 0
    assert 0 < sum(sleeps) <= 10
