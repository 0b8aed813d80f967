"""One lead as a whole, for people who look at her (`mombot leads show`):
who she is, how far along she is today, her funnel steps, her score with its breakdown, her
orders and value tier, her advisor's follow-ups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from crm import leads as funnel
from crm import phones, scoring
from crm.config import MASKABLE, TIERS, Settings
from crm.stages import how_far
from store import advisors, contact_tags, leads, merges, orders, signals
from store.models import Contact, FollowUp
from wecom.redact import mask_phones

SHOWN = 10  # follow-ups and orders listed


def of(
    session: Session, settings: Settings, contact_id: int, now: datetime,
    masked: frozenset[str] = frozenset({"phone"}), viewer: str = "",
) -> dict[str, Any] | None:  # fmt: skip
    """Her profile as plain JSON values (times in the configured time zone), None if nobody
    has that id; a merged-away id shows the person she became. `masked` (config.MASKABLE),
    the profile's "masked" lists it: phone as 138****1234 (in notes too); city as None;
    orders: no orders, signed amounts, value tier or what her orders scored; notes: none but
    the `viewer`'s own."""
    contact = session.get(Contact, merges.resolve(session, contact_id))
    if contact is None:
        return None
    tz = settings.tz

    def moment(value: datetime | None) -> str | None:
        return value.astimezone(tz).isoformat(timespec="seconds") if value else None

    connection = session.connection()
    names = advisors.names(connection)
    channel = settings.channel(contact.channel_code)
    history = signals.of(connection, [contact.id])[contact.id]
    items = scoring.breakdown(settings, history, now)
    sees_orders = "orders" not in masked
    bought = orders.of(connection, contact.id, SHOWN) if sees_orders else []
    follow_ups = session.exec(select(FollowUp).where(FollowUp.contact_id == contact.id)
                              .order_by(FollowUp.id.desc()).limit(SHOWN)).all()  # fmt: skip
    tags = sorted(contact_tags.names(session, contact.id))

    def note(text: str | None, by: str | None) -> str | None:
        if "notes" in masked and (not viewer or by != viewer):
            return None
        return mask_phones(text) if text and "phone" in masked else text

    return {
        "id": contact.id,
        "external_userid": contact.external_userid,
        "name": contact.name,
        "avatar": contact.avatar,
        "phone": phones.mask(contact.phone) if "phone" in masked else contact.phone,
        "wecom_customer": contact.external_userid is not None,
        "status": funnel.label(contact.status),
        "lost_reason": contact.lost_reason,
        "owner": contact.owner_userid,
        "owner_name": names.get(contact.owner_userid, ""),
        "channel": contact.channel_code,
        "channel_name": channel.name if channel else "",
        "source": contact.source,
        "city": None if "city" in masked else contact.city,
        "stage": contact.stage,
        "how_far": how_far(
            now.astimezone(tz).date(), contact.stage, contact.due_date, contact.baby_birthday
        ),
        "due_date": contact.due_date.isoformat() if contact.due_date else None,
        "baby_birthday": contact.baby_birthday.isoformat() if contact.baby_birthday else None,
        "added_at": moment(contact.added_at or contact.created_at),
        "tags": tags if sees_orders else [tag for tag in tags if tag not in TIERS],
        "score": scoring.total(items),
        "hot": scoring.total(items) >= settings.scoring.threshold,
        "score_breakdown": [
            {"rule": item.rule, "points": round(item.points, 1), "at": moment(item.at)}
            for item in items
            if sees_orders or item.signal != "ordered"
        ],
        "tier": contact.tier if sees_orders else None,
        "orders": [
            {
                "order_id": row.order_id,
                "amount": row.amount_cents / 100,
                "ordered_at": moment(row.ordered_at),
                "items": row.items,
                "source": row.source,
            }
            for row in bought
        ],
        "history": [
            {
                "at": moment(step.at),
                "from": funnel.label(step.from_status) or None,
                "to": funnel.label(step.to_status),
                "source": step.source,
                "actor": step.actor,
                "reason": step.reason,
                "note": note(step.note, step.actor),
                "amount": step.amount_cents / 100 if step.amount_cents and sees_orders else None,
            }
            for step in leads.history(session, contact.id)
        ],
        "follow_ups": [
            {"at": moment(f.created_at), "by": f.userid, "note": note(f.note, f.userid)}
            for f in follow_ups
        ],
        "masked": [field for field in MASKABLE if field in masked],
    }
