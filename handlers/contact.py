"""change_external_contact: a mother adds, edits or leaves an advisor (客户联系)."""

from __future__ import annotations

import logging

from bot.events import ContactEvent
from bot.wecom import WeComError, is_transient
from handlers import on
from handlers.context import Context
from store import contacts
from store.models import Contact

log = logging.getLogger(__name__)

# Source of del_external_contact when the contact moved to another advisor, not lost.
TRANSFER = "DELETE_BY_TRANSFER"


def _refresh_profile(ctx: Context, contact: Contact) -> None:
    """Fill in her WeChat profile; transient WeCom errors raise (retry), others are logged."""
    try:
        answer = ctx.wecom("contact").get(
            "externalcontact/get", external_userid=contact.external_userid
        )
    except WeComError as exc:
        if is_transient(exc):
            raise
        log.warning("no profile for contact %d: %s", contact.id, exc)
        return
    contacts.update_profile(ctx.session, contact, answer.get("external_contact", {}))


@on("event", "change_external_contact", "add_external_contact")
@on("event", "change_external_contact", "add_half_external_contact")
def contact_added(event: ContactEvent, ctx: Context) -> None:
    contact = contacts.record_added(
        ctx.session,
        external_userid=event.external_user_id,
        owner_userid=event.user_id,
        channel_code=event.state,
        added_at=event.created_at,
        now=ctx.clock.now(),
    )
    _refresh_profile(ctx, contact)
    log.info("contact %d added: owner=%s channel=%s", contact.id, event.user_id, event.state or "-")


@on("event", "change_external_contact", "edit_external_contact")
def contact_edited(event: ContactEvent, ctx: Context) -> None:
    contact = contacts.get(ctx.session, event.external_user_id)
    if contact is None:  # edited before we knew her (e.g. added before mombot ran)
        contact = contacts.record_added(
            ctx.session,
            external_userid=event.external_user_id,
            owner_userid=event.user_id,
            channel_code="",
            added_at=event.created_at,
            now=ctx.clock.now(),
        )
    _refresh_profile(ctx, contact)


@on("event", "change_external_contact", "del_follow_user")
def customer_left(event: ContactEvent, ctx: Context) -> None:
    """She deleted the advisor."""
    contacts.record_lost(
        ctx.session, event.external_user_id, event.user_id, "customer_deleted", ctx.clock.now()
    )


@on("event", "change_external_contact", "del_external_contact")
def advisor_removed(event: ContactEvent, ctx: Context) -> None:
    """The advisor deleted her; a transfer to another advisor is not a loss."""
    if event.source == TRANSFER:
        log.info("contact transferred away from %s", event.user_id)
        return
    contacts.record_lost(
        ctx.session, event.external_user_id, event.user_id, "advisor_deleted", ctx.clock.now()
    )


@on("event", "change_external_contact", "transfer_fail")
def transfer_failed(event: ContactEvent, ctx: Context) -> None:
    log.warning(
        "transfer of a contact to %s failed: %s", event.user_id, event.fail_reason or "unknown"
    )
    contacts.touch(ctx.session, event.external_user_id, ctx.clock.now())
