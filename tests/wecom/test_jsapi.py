"""OAuth2 and the JS-SDK's signatures and tickets, against a respx-mocked WeCom API and a
real Redis: WeCom's own signature vector, one ticket fetch shared by every process."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.wecom.test_client import CORP, err, ok
from wecom import jsapi
from wecom.client import WeComError

VECTOR = json.loads((Path(__file__).parents[1] / "data" / "wecom" / "api" / "jsapi_tickets.json")
                    .read_text(encoding="utf-8"))["signature_vector"]  # fmt: skip


def test_the_signature_matches_wecoms_vector_and_ignores_the_fragment():
    expected = VECTOR["signature"]
    args = (VECTOR["jsapi_ticket"], VECTOR["noncestr"], VECTOR["timestamp"])
    assert jsapi.signature(*args, VECTOR["url"]) == expected
    assert jsapi.signature(*args, VECTOR["url"] + "#/profile") == expected
    assert jsapi.signature(*args, VECTOR["url"] + "&x=1") != expected


def test_the_authorize_url_asks_for_the_base_scope_of_the_app():
    url = jsapi.authorize_url(CORP, 1000002, "https://crm.example.com/sidebar?next=a&b=1", "s1")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.netloc, parts.path, parts.fragment) == ("open.weixin.qq.com",
                                                          "/connect/oauth2/authorize",
                                                          "wechat_redirect")  # fmt: skip
    assert query == {"appid": [CORP], "redirect_uri": ["https://crm.example.com/sidebar?next=a&b=1"],
                     "response_type": ["code"], "scope": ["snsapi_base"], "state": ["s1"],
                     "agentid": ["1000002"]}  # fmt: skip


def test_tickets_are_fetched_once_for_every_process(api, gettoken, make_client):
    corp = api.get("/cgi-bin/get_jsapi_ticket").mock(
        return_value=ok(ticket="T-corp", expires_in=7200)
    )
    agent = api.get("/cgi-bin/ticket/get").mock(return_value=ok(ticket="T-app", expires_in=7200))
    first, second = make_client(), make_client()  # two processes, one Redis
    assert [first.ticket("corp"), second.ticket("corp")] == ["T-corp", "T-corp"]
    assert [first.ticket("agent"), second.ticket("agent")] == ["T-app", "T-app"]
    assert (corp.call_count, agent.call_count) == (1, 1)
    assert parse_qs(urlsplit(str(agent.calls[0].request.url)).query)["type"] == ["agent_config"]


def test_a_bad_oauth_code_is_wecoms_40029(api, gettoken, make_client):
    api.get("/cgi-bin/auth/getuserinfo", params={"code": "good"}).mock(
        return_value=ok(userid="zhangsan", user_ticket="")
    )
    api.get("/cgi-bin/auth/getuserinfo", params={"code": "used"}).mock(
        return_value=err(40029, "invalid code")
    )
    api.get("/cgi-bin/auth/getuserinfo", params={"code": "guest"}).mock(
        return_value=ok(openid="o-1", external_userid="wm-1")
    )
    client = make_client()
    assert jsapi.user_of_code(client, "good") == "zhangsan"
    assert jsapi.user_of_code(client, "guest") == ""  # not a member
    with pytest.raises(WeComError) as refused:
        jsapi.user_of_code(client, "used")
    assert refused.value.errcode == jsapi.INVALID_CODE
