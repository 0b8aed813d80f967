"""The brand's existing customers: the mothers who added its advisors before mombot ran.

`sync` (`mombot contacts sync`) reads them all from WeCom: the members with customer contact
(get_follow_user_list), then their customers, a hundred members per call and a hundred
customers per page (batch/get_by_user, the most WeCom allows, so the fewest calls). Each is
recorded as a baseline: who follows her, her profile, her owner's tags, the channel her state
names; nobody is welcomed and no SOP starts. Idempotent, and resumable: the page reached is kept
in Redis until the sync is complete, and a rerun goes on from there.

`look_up` does the same for one mother mombot meets first in a callback or in the bot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm.context import Context
from store import contacts
from store.contacts import Existing
from store.models import Contact
from wecom import externalcontact
from wecom.client import WeComClient, WeComError, is_transient

PROGRESS_KEY = "mombot:contacts:sync"  # Redis hash: where an unfinished sync got to


@dataclass
class SyncReport:
    advisors: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0  # entries WeCom gave malformed, or members WeCom would not list
    problems: list[str] | None = None
    resumed: bool = False

    @property
    def entries(self) -> int:
        return self.new + self.updated + self.unchanged


def sync(ctx: Context, progress: Callable[[int], None] = lambda n: None) -> SyncReport:
    """Read every existing customer; `progress(n)` after each page of n entries."""
    client = ctx.wecom("contact")
    userids = externalcontact.follow_users(client)
    tags = _tag_names(client)
    batches = [userids[i : i + externalcontact.PAGE_USERS]
               for i in range(0, len(userids), externalcontact.PAGE_USERS)]  # fmt: skip
    report = SyncReport(advisors=len(userids), problems=[])
    fingerprint = hashlib.sha256(json.dumps(userids).encode()).hexdigest()[:16]
    start, cursor = _resume(ctx, fingerprint, report)
    for index in range(start, len(batches)):
        while True:
            try:
                page, cursor = externalcontact.customers_page(client, batches[index], cursor)
            except WeComError as exc:
                if is_transient(exc):
                    raise  # kept where it got to: a rerun goes on from this page
                report.failed += len(batches[index])
                report.problems.append(f"members {', '.join(batches[index])}: {exc}")
                cursor = ""
                break
            _record(ctx, page, tags, report)
            _save(ctx, fingerprint, index, cursor, report)
            progress(len(page))
            if not cursor:
                break
    ctx.redis.delete(PROGRESS_KEY)
    return report


def look_up(ctx: Context, external_userid: str) -> Contact | None:
    """A mother mombot does not know yet, as WeCom knows her (externalcontact/get): recorded as
    a baseline with her owner; None when she is not the corp's customer."""
    try:
        answer = externalcontact.get(ctx.wecom("contact"), external_userid)
    except WeComError as exc:
        if is_transient(exc):
            raise
        return None
    profile = answer.get("external_contact") or {}
    follows = sorted(answer.get("follow_user") or [], key=lambda f: int(f.get("createtime") or 0))
    entries = [entry for entry in (_existing(ctx, profile, follow, follow_tags(follow))
                                   for follow in follows) if entry]  # fmt: skip
    if not entries:
        return None
    contacts.record_existing(ctx.session, entries, ctx.clock.now())
    return contacts.get(ctx.session, external_userid)


def follow_tags(follow: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Corp tags in externalcontact/get's follow_user entry: tag id → (name, group)."""
    return {
        tag["tag_id"]: (tag.get("tag_name", ""), tag.get("group_name", ""))
        for tag in follow.get("tags", [])
        if tag.get("type", 1) == 1 and tag.get("tag_id")
    }


def _tag_names(client: WeComClient) -> dict[str, tuple[str, str]]:
    return {tag["id"]: (tag.get("name", ""), group.get("group_name", ""))
            for group in externalcontact.corp_tag_groups(client)
            for tag in group.get("tag", [])}  # fmt: skip


def _existing(
    ctx: Context, profile: dict[str, Any], follow: dict[str, Any], tags: dict[str, tuple[str, str]]
) -> Existing | None:
    """One entry in plain values; None when WeCom gave no external_userid or member."""
    external_userid, userid = profile.get("external_userid"), follow.get("userid")
    if not external_userid or not userid:
        return None
    state = str(follow.get("state") or "")
    created = int(follow.get("createtime") or 0)
    return Existing(
        external_userid=str(external_userid), name=str(profile.get("name") or ""),
        avatar=str(profile.get("avatar") or ""), gender=int(profile.get("gender") or 0),
        unionid=str(profile.get("unionid") or ""), userid=str(userid),
        remark=str(follow.get("remark") or ""), state=state,
        channel=state if ctx.settings.channel(state) else "",
        added_at=datetime.fromtimestamp(created, UTC) if created else None, tags=tags,
    )  # fmt: skip


def _record(ctx: Context, page: list[dict], tags: dict, report: SyncReport) -> None:
    entries = []
    for item in page:
        follow = item.get("follow_info") or {}
        entry = _existing(ctx, item.get("external_contact") or {}, follow,
                          {i: tags[i] for i in follow.get("tag_id", []) if i in tags})  # fmt: skip
        if entry is None:
            report.failed += 1
        else:
            entries.append(entry)
    new, updated, unchanged = contacts.record_existing(ctx.session, entries, ctx.clock.now())
    ctx.session.commit()
    report.new, report.updated = report.new + new, report.updated + updated
    report.unchanged += unchanged


def _resume(ctx: Context, fingerprint: str, report: SyncReport) -> tuple[int, str]:
    """(batch, cursor) to start from: where an unfinished sync of the same members stopped."""
    saved = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(PROGRESS_KEY).items()}
    if saved.get("members") != fingerprint:
        return 0, ""
    report.resumed = True
    for name in ("new", "updated", "unchanged", "failed"):
        setattr(report, name, int(saved.get(name, 0)))
    batch, cursor = int(saved["batch"]), saved.get("cursor", "")
    return (batch, cursor) if cursor else (batch + 1, "")


def _save(ctx: Context, fingerprint: str, batch: int, cursor: str, report: SyncReport) -> None:
    ctx.redis.hset(PROGRESS_KEY, mapping={
        "members": fingerprint, "batch": batch, "cursor": cursor, "new": report.new,
        "updated": report.updated, "unchanged": report.unchanged, "failed": report.failed,
    })  # fmt: skip
    ctx.redis.expire(PROGRESS_KEY, 7 * 24 * 3600)
