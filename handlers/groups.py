"""change_external_chat: customer groups (客户群) made, changed or dismissed, and
`mombot groups sync` for the groups that existed before mombot ran.

WeCom's callback says only that something changed; groupchat/get says what the group is now,
so handling an event twice, or out of order, ends in the same place. Customers new to a group
start its group_member_joined SOPs; a dismissed group's steps are cancelled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from crm.context import Context
from handlers import on
from sop import planner, playbook
from store import groups, sop_tasks
from wecom import groupchat
from wecom.callbacks import GroupChatEvent
from wecom.client import WeComError, is_transient

log = logging.getLogger(__name__)

# A group first seen through a callback: members who joined up to this long before the event
# count as just joined (WeCom's clocks differ by a second or so; a callback may wait a little).
FIRST_SIGHT_SLACK = timedelta(minutes=10)


def fetch(ctx: Context, chat_id: str) -> dict | None:
    """groupchat/get; None when WeCom will not describe the group (not ours, dismissed)."""
    try:
        return groupchat.get(ctx.wecom("contact"), chat_id) or None
    except WeComError as exc:
        if is_transient(exc):
            raise
        log.warning("group %s not readable: %s", chat_id, exc)
        return None


@on("event", "change_external_chat")
def group_changed(event: GroupChatEvent, ctx: Context) -> None:
    now = ctx.clock.now()
    if event.change_type == "dismiss":
        if groups.dismiss(ctx.session, event.chat_id, now) is not None:
            cancelled = sop_tasks.cancel_pending(ctx.session.connection(),
                                                 planner.group_target(event.chat_id),
                                                 "group dismissed", now)  # fmt: skip
            log.info("group %s dismissed; %d steps cancelled", event.chat_id, cancelled)
        return
    info = fetch(ctx, event.chat_id)
    if info is None:
        return
    known = groups.get(ctx.session, event.chat_id) is not None
    since = event.created_at - FIRST_SIGHT_SLACK
    group, joins = groups.record(ctx.session, info, now, joins_since=since)
    sops = playbook.configured(ctx.settings)
    connection, tz = ctx.session.connection(), ctx.settings.tz
    planner.plan_group_joined(connection, sops, group, joins, tz, now)
    if not known:  # today's scheduled posts were planned before the group existed
        planner.plan_schedules(connection, sops, now.date(), tz, now, chat_id=group.chat_id)
    log.info("group %s %s (%s): %d members, %d joined", group.chat_id, event.change_type,
             event.update_detail or "-", group.members, len(joins))  # fmt: skip


@dataclass
class SyncReport:
    groups: int = 0
    dismissed: int = 0
    unreadable: int = 0


def sync(ctx: Context) -> SyncReport:
    """Read every customer group the app can see (groupchat/list, groupchat/get) as a baseline:
    members found now start no SOP; groups no longer listed count as dismissed."""
    report = SyncReport()
    listed = set(groupchat.chat_ids(ctx.wecom("contact")))
    now = ctx.clock.now()
    sops = playbook.configured(ctx.settings)
    for chat_id in sorted(listed):
        info = fetch(ctx, chat_id)
        if info is None:
            report.unreadable += 1
            continue
        group, joins = groups.record(ctx.session, info, now, joins_since=None)
        # in a group mombot already knew, newcomers are newcomers (their callback may be queued)
        planner.plan_group_joined(ctx.session.connection(), sops, group, joins,
                                  ctx.settings.tz, now)  # fmt: skip
        report.groups += 1
    report.dismissed = groups.mark_gone(ctx.session, listed, now)
    planner.plan_schedules(ctx.session.connection(), sops, now.date(), ctx.settings.tz, now)
    ctx.session.commit()
    return report
