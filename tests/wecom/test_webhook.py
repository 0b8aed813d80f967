"""A group robot's webhook (群机器人) against a respx-mocked WeCom: texts and images as WeCom
wants them, its refusals as errors that never show the robot's key."""

import base64
import hashlib
import json

import httpx
import pytest
import respx

from wecom import webhook
from wecom.client import WeComError, WeComRateLimited, WeComUnavailable

URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET-ROBOT-KEY"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


@respx.mock
def test_an_image_goes_as_base64_with_its_md5(http):
    route = respx.post(URL).mock(return_value=httpx.Response(200, json={"errcode": 0}))
    webhook.send_image(http, URL, PNG)
    body = json.loads(route.calls.last.request.content)
    assert body["msgtype"] == "image"
    assert base64.b64decode(body["image"]["base64"]) == PNG
    assert body["image"]["md5"] == hashlib.md5(PNG).hexdigest()


@respx.mock
def test_a_text(http):
    route = respx.post(URL).mock(return_value=httpx.Response(200, json={"errcode": 0}))
    webhook.send_text(http, URL, "经营日报")
    assert json.loads(route.calls.last.request.content) == {
        "msgtype": "text", "text": {"content": "经营日报"}}  # fmt: skip


@respx.mock
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(200, json={"errcode": 45009, "errmsg": "api freq out of limit"}),
         WeComRateLimited),
        (httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid webhook url"}),
         WeComError),
        (httpx.Response(502), WeComUnavailable),
        (httpx.ConnectError("connection refused to " + URL), WeComUnavailable),
    ],
)  # fmt: skip
def test_refusals_are_errors_without_the_key(http, answer, error):
    route = respx.post(URL)
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)
    with pytest.raises(error) as raised:
        webhook.send_text(http, URL, "hi")
    assert "SECRET-ROBOT-KEY" not in str(raised.value)


def test_an_image_over_two_megabytes_is_refused_before_sending(http):
    with pytest.raises(WeComError, match="over the robot's 2 MB"):
        webhook.send_image(http, URL, b"x" * (2 * 1024 * 1024 + 1))
