"""The advisors' sidebar as plain functions: logging in with an OAuth2 code, the JS-SDK's
signatures for a page, and a customer's profile for an advisor who may see her."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from crm import access, customers, profile
from crm.context import Context
from handlers.intake import Reply
from store import audit, contacts
from wecom import jsapi
from wecom.client import WeComError, is_transient

EXTERNAL_USERID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_URL = 2048


class LoginRefused(Exception):
    """The OAuth2 code gives no member: the message says why, for the page."""


def login(ctx: Context, code: str) -> str:
    """The member an OAuth2 code stands for (each code works once, for 5 minutes)."""
    if not code or len(code) > 512:
        raise LoginRefused("登录链接无效，请从企业微信里重新打开侧边栏。")
    try:
        userid = jsapi.user_of_code(ctx.wecom("app"), code)
    except WeComError as exc:
        if is_transient(exc):
            raise
        raise LoginRefused("登录链接已失效或已被使用，请从企业微信里重新打开侧边栏。") from None
    if not userid:
        raise LoginRefused("侧边栏只对企业成员开放。")
    return userid


def jssdk(ctx: Context, url: str) -> Reply:
    """Signatures for the page at `url` (without its # part): the corp ticket's for wx.config,
    the app ticket's for ww.register / wx.agentConfig."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL:
        return Reply(400, {"error": "url must be the page's http(s) address"})
    client = ctx.wecom("app")
    timestamp = int(ctx.clock.now().timestamp())
    signed = {}
    for kind in ("corp", "agent"):
        nonce = secrets.token_hex(8)
        signed[kind] = {
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": jsapi.signature(client.ticket(kind), nonce, timestamp, url),
        }
    return Reply(200, {"corpId": ctx.settings.wecom.corp_id,
                       "agentId": ctx.settings.wecom.agent_id, **signed})  # fmt: skip


def contact(ctx: Context, userid: str, external_userid: str) -> Reply:
    """Her profile for `userid`: 403 unless he may see her (every look, allowed or refused,
    is in the audit log); 404 when she is no customer of the corp."""
    if not EXTERNAL_USERID.match(external_userid):
        return Reply(400, {"error": "external_userid is missing or malformed"})
    found = contacts.get(ctx.session, external_userid) or customers.look_up(ctx, external_userid)
    if found is None:
        return Reply(404, {"error": "she is no customer of the corp"})
    now = ctx.clock.now()
    detail = {"contact_id": found.id, "external_userid": external_userid}
    if not access.may_see(ctx.session, ctx.settings, userid, found):
        audit.record(ctx.session, userid, "sidebar.denied", detail, 0, now)
        ctx.session.commit()
        return Reply(403, {"error": "she is not your customer"})
    shown = profile.of(ctx.session, ctx.settings, found.id, now,
                       reveal_phone=access.may_see_phone(ctx.settings, userid, found))  # fmt: skip
    audit.record(ctx.session, userid, "sidebar.view", detail, 1, now)
    ctx.session.commit()
    return Reply(200, shown or {})
