"""Plays WeCom's side of callbacks: signs and encrypts events exactly as WeCom does and posts
them to a mombot server. Used by the sandbox, the demo, the benchmarks and the tests."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from xml.sax.saxutils import escape

import httpx

from wecom.crypto import WeComCrypto


def to_xml(fields: Mapping[str, object]) -> str:
    """A callback document in WeCom's shape: strings in CDATA, numbers bare."""
    parts = []
    for name, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            text = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{name}><![CDATA[{text}]]></{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def contact_event(
    change_type: str,
    corp_id: str,
    userid: str,
    external_userid: str,
    create_time: int | None = None,
    **extra: object,
) -> dict[str, object]:
    return {
        "ToUserName": corp_id,
        "FromUserName": "sys",
        "CreateTime": create_time if create_time is not None else int(time.time()),
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": change_type,
        "UserID": userid,
        "ExternalUserID": external_userid,
        **extra,
    }


class CallbackDriver:
    def __init__(
        self, crypto: WeComCrypto, corp_id: str, url: str = "", client: httpx.Client | None = None
    ) -> None:
        self.crypto = crypto
        self.corp_id = corp_id
        self.url = url
        self.client = client

    def _signed(self, encrypted: str) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        return {
            "msg_signature": self.crypto.sign(timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }

    def envelope(self, plain_xml: str, agent_id: object = "") -> tuple[dict[str, str], bytes]:
        """Query parameters and body of one encrypted POST, as WeCom would send them."""
        encrypted = self.crypto.encrypt(plain_xml)
        body = (
            f"<xml><ToUserName><![CDATA[{escape(self.corp_id)}]]></ToUserName>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        return self._signed(encrypted), body.encode()

    def post(self, fields: Mapping[str, object]) -> httpx.Response:
        assert self.client is not None, "a driver that posts needs an httpx client"
        params, body = self.envelope(to_xml(fields), fields.get("AgentID", ""))
        return self.client.post(self.url, params=params, content=body)

    def verify_url(self) -> bool:
        """Do WeCom's URL check; True when the server answered with the right echo."""
        assert self.client is not None, "a driver that verifies needs an httpx client"
        echo = secrets.token_hex(8)
        encrypted = self.crypto.encrypt(echo)
        response = self.client.get(
            self.url, params={**self._signed(encrypted), "echostr": encrypted}
        )
        return response.status_code == 200 and response.text == echo
