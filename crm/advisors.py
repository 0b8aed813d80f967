"""Advisors as mothers and staff see them: their names, and who follows a mother up."""

from __future__ import annotations

from crm.context import Context
from store import advisors
from store.models import Contact
from wecom import user
from wecom.client import WeComError

NEUTRAL = "你的专属顾问"  # how a mother hears of an advisor whose name WeCom will not tell


def advisor_name(ctx: Context, userid: str, unknown: str) -> str:
    """The advisor's display name (user/get, cached a day); `unknown` when WeCom will not say
    (mothers: NEUTRAL, never a userid; staff: the userid)."""
    now = ctx.clock.now()
    name = advisors.cached_name(ctx.session, userid, now)
    if name:
        return name
    try:
        name = user.name(ctx.wecom("app"), userid)
    except WeComError as exc:
        ctx.warn(f"advisor {userid}'s name unknown (user/get: {exc})")
        return unknown
    if not name:
        return unknown
    advisors.remember(ctx.session, userid, name, now)
    return name


def responsible(ctx: Context, contact: Contact) -> list[str]:
    """Who follows her up: her advisor, or the managers for a lead without an owner."""
    return [contact.owner_userid] if contact.owner_userid else list(ctx.settings.report.managers)
