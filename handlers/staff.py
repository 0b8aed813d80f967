"""Telling staff things: advisors' names, and app messages (message/send) sent at most once."""

from __future__ import annotations

import logging

from bot.wecom import WeComError
from handlers.context import Context
from store import advisors, deliveries
from store.models import DeliveryStatus

log = logging.getLogger(__name__)


def advisor_name(ctx: Context, userid: str) -> str:
    """Her advisor's display name (user/get, cached a day); the userid if WeCom won't say."""
    now = ctx.clock.now()
    name = advisors.cached_name(ctx.session, userid, now)
    if name is not None:
        return name
    try:
        name = ctx.wecom("app").get("user/get", userid=userid).get("name") or userid
    except WeComError as exc:
        log.warning("user/get %s failed: %s", userid, exc)
        return userid
    advisors.remember(ctx.session, userid, name, now)
    return name


def notify(ctx: Context, key: str, userid: str, text: str) -> bool:
    """Send a text app message to a staff member once per key; True if it went out now."""
    now = ctx.clock.now()
    if not userid or not deliveries.claim(ctx.session, key, "notice", userid, now):
        return False
    body = {
        "touser": userid,
        "msgtype": "text",
        "agentid": ctx.settings.wecom.agent_id,
        "text": {"content": text},
    }
    try:
        answer = ctx.wecom("app").post("message/send", json=body)
    except WeComError as exc:
        deliveries.finish(ctx.session, key, DeliveryStatus.FAILED, str(exc), ctx.clock.now())
        log.warning("notice %s to %s failed: %s", key, userid, exc)
        return False
    if answer.get("invaliduser"):
        deliveries.finish(ctx.session, key, DeliveryStatus.FAILED, "invalid user", ctx.clock.now())
        return False
    deliveries.finish(ctx.session, key, DeliveryStatus.SENT, "", ctx.clock.now())
    return True
