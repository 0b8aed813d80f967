"""Leads that entered a value tier ([tiers]): the playbooks' tier_entered SOPs start, and with
[tiers] tag_group her tier shows as a WeCom tag (the other tiers' tags taken away)."""

from __future__ import annotations

from crm import tags, tiers
from crm.config import TIERS
from crm.context import Context
from handlers import on
from sop import planner, playbook
from store import contact_tags, contacts, inbox, merges
from store.models import Contact
from wecom import externalcontact
from wecom.callbacks import Event
from wecom.client import WeComError, is_transient


@on("event", tiers.ENTERED)
def tier_entered(event: Event, ctx: Context) -> None:
    ids = set(merges.resolve_all(ctx.session, inbox.announced(event.fields)))
    found = contacts.by_ids(ctx.session, sorted(ids))
    entered = [(c.id, c.tier, c.tier_since) for c in found.values() if c.tier and c.tier_since]
    now = ctx.clock.now()
    planned = planner.plan_tier_entered(ctx.session.connection(),
                                        playbook.configured(ctx.settings), entered,
                                        ctx.settings.tz, now)  # fmt: skip
    ctx.session.commit()
    if ctx.settings.tiers.tag_group:
        for contact in found.values():
            _tier_tag(ctx, contact)
    ctx.note(f"{len(entered)} lead(s) entered a value tier; {planned} SOP step(s) planned")


def _tier_tag(ctx: Context, contact: Contact) -> None:
    """Her tier as the one tag she has of the [tiers] tag_group, as her advisor sees her."""
    if contact.external_userid is None or not contacts.wecom_userid(contact) or not contact.tier:
        return
    group = ctx.settings.tiers.tag_group
    client, userid = ctx.wecom("contact"), contacts.wecom_userid(contact)
    try:
        ids = tags.ensure(ctx.session, client, group, list(TIERS))
        wanted = ids[contact.tier]
        others = [tag_id for name, tag_id in ids.items() if name != contact.tier]
        externalcontact.mark_tag(client, userid, contact.external_userid, add=[wanted],
                                 remove=others)  # fmt: skip
    except WeComError as exc:
        if is_transient(exc):
            raise
        ctx.warn(f"tier tag of contact {contact.id} not set: {exc}")
        return
    contact_tags.update(ctx.session, contact.id, {wanted: (contact.tier, group)}, set(others),
                        ctx.clock.now())  # fmt: skip
    ctx.session.commit()
