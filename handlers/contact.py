"""change_external_contact: a mother adds, edits or leaves an advisor (客户联系)."""

from __future__ import annotations

import logging

from bot.events import ContactEvent
from handlers import on
from handlers.context import Context
from store import contacts

log = logging.getLogger(__name__)

# Source of del_external_contact when the contact moved to another advisor, not lost.
TRANSFER = "DELETE_BY_TRANSFER"


@on("event", "change_external_contact", "add_external_contact")
@on("event", "change_external_contact", "add_half_external_contact")
def contact_added(event: ContactEvent, ctx: Context) -> None:
    contacts.record_added(
        ctx.session,
        external_userid=event.external_user_id,
        owner_userid=event.user_id,
        channel_code=event.state,
        added_at=event.created_at,
        now=ctx.clock.now(),
    )
    log.info("contact added: owner=%s channel=%s", event.user_id, event.state or "-")


@on("event", "change_external_contact", "edit_external_contact")
def contact_edited(event: ContactEvent, ctx: Context) -> None:
    contacts.touch(ctx.session, event.external_user_id, ctx.clock.now())


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
