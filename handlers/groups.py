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

from sqlalchemy import update

from bot.events import GroupChatEvent
from bot.wecom import WeComError, is_transient
from handlers import on
from handlers.context import Context
from sop import planner, playbook
from store import groups
from store.models import SopTask, TaskStatus

log = logging.getLogger(__name__)

# A group first seen through a callback: members who joined up to this long before the event
# count as just joined (WeCom's clocks differ by a second or so; a callback may wait a little).
FIRST_SIGHT_SLACK = timedelta(minutes=10)


def fetch(ctx: Context, chat_id: str) -> dict | None:
    """groupchat/get; None when WeCom will not describe the group (not ours, dismissed)."""
    try:
        answer = ctx.wecom("contact").post(
            "externalcontact/groupchat/get", json={"chat_id": chat_id, "need_name": 1}
        )
    except WeComError as exc:
        if is_transient(exc):
            raise
        log.warning("group %s not readable: %s", chat_id, exc)
        return None
    return answer.get("group_chat")


def cancel_steps(ctx: Context, chat_id: str, reason: str) -> int:
    table = SopTask.__table__
    return ctx.session.connection().execute(
        update(table)
        .where(table.c.target == planner.group_target(chat_id),
               table.c.status == TaskStatus.PENDING)
        .values(status=TaskStatus.CANCELLED, detail=reason, updated_at=ctx.clock.now())
    ).rowcount  # fmt: skip


@on("event", "change_external_chat")
def group_changed(event: GroupChatEvent, ctx: Context) -> None:
    now = ctx.clock.now()
    if event.change_type == "dismiss":
        if groups.dismiss(ctx.session, event.chat_id, now) is not None:
            cancelled = cancel_steps(ctx, event.chat_id, "group dismissed")
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
    report, listed, cursor = SyncReport(), set(), ""
    client = ctx.wecom("contact")
    while True:
        page = client.post("externalcontact/groupchat/list",
                           json={"status_filter": 0, "cursor": cursor, "limit": 1000})  # fmt: skip
        listed.update(chat["chat_id"] for chat in page.get("group_chat_list", []))
        cursor = page.get("next_cursor", "")
        if not cursor:
            break
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
