"""Advisors as mothers and staff see them: their names, and who follows a mother up."""

from __future__ import annotations

import logging

from crm.context import Context
from store import advisors
from store.models import Contact
from wecom import user
from wecom.client import WeComError

log = logging.getLogger(__name__)


def advisor_name(ctx: Context, userid: str) -> str:
    """The advisor's display name (user/get, cached a day); the userid if WeCom won't say."""
    now = ctx.clock.now()
    name = advisors.cached_name(ctx.session, userid, now)
    if name is not None:
        return name
    try:
        name = user.name(ctx.wecom("app"), userid) or userid
    except WeComError as exc:
        log.warning("user/get %s failed: %s", userid, exc)
        return userid
    advisors.remember(ctx.session, userid, name, now)
    return name


def responsible(ctx: Context, contact: Contact) -> list[str]:
    """Who follows her up: her advisor, or the managers for a lead without an owner."""
    return [contact.owner_userid] if contact.owner_userid else list(ctx.settings.report.managers)
