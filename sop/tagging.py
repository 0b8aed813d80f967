"""Her tags as mombot knows them (`contact_tags`), the tag_added SOPs a new one starts, and
the funnel steps a mapped one makes ([leads] tag_status)."""

from __future__ import annotations

from crm import customers, leads, scoring
from crm.context import Context
from sop import planner, playbook
from store import contact_tags, contacts
from store.models import Contact


def record(
    ctx: Context,
    contact: Contact,
    added: dict[str, tuple[str, str]],
    removed: set[str] = frozenset(),
    replace: bool = False,
) -> list[str]:
    """Record her tags (tag id → (name, group)) and start the tag_added SOPs of the new ones;
    returns the new names."""
    now = ctx.clock.now()
    new = contact_tags.update(ctx.session, contact.id, added, set(removed), now, replace)
    if new:
        planner.plan_tag_added(ctx.session.connection(), playbook.configured(ctx.settings),
                               contact.id, new, ctx.settings.tz, now)  # fmt: skip
        leads.from_tags(ctx, contact, new)
        scoring.recount(ctx.session, ctx.settings, [contact.id], now)
    return new


def from_profile(
    ctx: Context, contact: Contact, follow_users: list[dict], just_added: bool
) -> list[str]:
    """Her tags as her advisor sees them in externalcontact/get's follow_user (corp tags only);
    returns the names that are new to mombot. The first read of a contact mombot knew before
    (an edit) is a baseline: tags she has had for months start nothing."""
    userid = contacts.wecom_userid(contact)
    mine = next((f for f in follow_users if f.get("userid") == userid), None)
    if mine is None:
        return []
    corp = customers.follow_tags(mine)
    baseline = contact.tags_read_at is None and not just_added
    contact.tags_read_at = contact.tags_read_at or ctx.clock.now()
    ctx.session.add(contact)
    if baseline:
        contact_tags.update(ctx.session, contact.id, corp, set(), ctx.clock.now(), replace=True)
        return []
    return record(ctx, contact, corp, replace=True)
