"""网页授权 and the JS-SDK: who opened a page (OAuth2 snsapi_base), and the signatures that let
a page of ours use WeCom's JS-SDK (wx.config with the corp ticket, ww.register /
wx.agentConfig with the app's)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from wecom.client import WeComClient

AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
INVALID_CODE = 40029


def authorize_url(corp_id: str, agent_id: int, redirect_uri: str, state: str,
                  base: str = AUTHORIZE) -> str:  # fmt: skip
    """Where to send a member's browser to learn who he is: WeCom comes back to redirect_uri
    with ?code=…&state=…."""
    query = urlencode({"appid": corp_id, "redirect_uri": redirect_uri, "response_type": "code",
                       "scope": "snsapi_base", "state": state, "agentid": agent_id})  # fmt: skip
    return f"{base}?{query}#wechat_redirect"


def user_of_code(client: WeComClient, code: str) -> str:
    """The member's userid for an OAuth2 code (single use, 5 minutes); "" when the person is
    no member of the corp (WeCom then gives an openid instead)."""
    return str(client.get("auth/getuserinfo", code=code).get("userid") or "")


def signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """sha1 over jsapi_ticket, noncestr, timestamp and the page's URL without its # part,
    nothing URL-encoded."""
    page = url.split("#", 1)[0]
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page}"
    return hashlib.sha1(plain.encode()).hexdigest()
