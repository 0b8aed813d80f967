"""Queries on contacts (mothers) and their funnel status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Connection, Row, insert, update
from sqlmodel import Session, func, select

from store.models import Contact, ContactStatus, StageEvent


def wecom_userid(contact: Contact) -> str:
    """The advisor who has her in WeCom now: her owner, or while a 公海 claim's transfer is
    pending (WeCom completes it within 24 h), the advisor she was claimed from."""
    return contact.handover_userid or contact.owner_userid


def get(session: Session, external_userid: str) -> Contact | None:
    return session.exec(select(Contact).where(Contact.external_userid == external_userid)).first()


def record_added(
    session: Session,
    *,
    external_userid: str,
    owner_userid: str,
    channel_code: str,
    added_at: datetime,
    now: datetime,
) -> Contact:
    """Create the contact, or bring a returning one back as a fresh lead of this advisor."""
    contact = get(session, external_userid)
    if contact is None:
        contact = Contact(external_userid=external_userid, created_at=now)
    contact.owner_userid = owner_userid
    if channel_code or not contact.channel_code:
        contact.channel_code = channel_code
    if contact.status == ContactStatus.LOST:
        contact.status, contact.lost_reason, contact.lost_at = ContactStatus.NEW, None, None
    contact.added_at = added_at
    contact.updated_at = now
    session.add(contact)
    session.flush()
    return contact


def update_profile(session: Session, contact: Contact, profile: dict) -> None:
    """Copy name, avatar, gender and unionid from externalcontact/get's external_contact."""
    contact.name = profile.get("name", contact.name)[:128]
    contact.avatar = profile.get("avatar", contact.avatar)[:512]
    contact.gender = int(profile.get("gender", contact.gender) or 0)
    contact.unionid = profile.get("unionid", contact.unionid)[:64]
    session.add(contact)


def record_lost(
    session: Session, external_userid: str, userid: str, reason: str, now: datetime
) -> Contact | None:
    """Mark her lost when the relation with her owner advisor ends; other advisors' don't count."""
    contact = get(session, external_userid)
    if contact is None or (contact.owner_userid and contact.owner_userid != userid):
        return None
    contact.status, contact.lost_reason, contact.lost_at = ContactStatus.LOST, reason, now
    contact.updated_at = now
    session.add(contact)
    session.flush()
    return contact


def record_transfer_failure(session: Session, contact: Contact, reason: str, now: datetime) -> None:
    contact.transfer_fail_reason, contact.transfer_failed_at = reason[:64], now
    contact.updated_at = now
    session.add(contact)


def count_by_channel(session: Session) -> dict[str, int]:
    rows = session.exec(select(Contact.channel_code, func.count()).group_by(Contact.channel_code))
    return dict(rows.all())


def stage_batch(connection: Connection, after_id: int, limit: int) -> Sequence[Row]:
    """(id, stage, due_date, baby_birthday, trying_to_conceive, status) of the next contacts
    by id, for a pass over every contact."""
    t = Contact.__table__
    return connection.execute(
        select(t.c.id, t.c.stage, t.c.due_date, t.c.baby_birthday, t.c.trying_to_conceive,
               t.c.status)
        .where(t.c.id > after_id).order_by(t.c.id).limit(limit)
    ).all()  # fmt: skip


def apply_stages(
    connection: Connection, changes: list[tuple[int, str | None, str | None]], day: date,
    now: datetime,
) -> list[tuple[int, str, date]]:  # fmt: skip
    """Write new stages ((contact id, old, new) each) and a stage_events row for each stage
    entered; returns (contact id, stage, day) of those."""
    t, events = Contact.__table__, StageEvent.__table__
    for stage in {new for _, _, new in changes}:
        ids = [contact_id for contact_id, _, new in changes if new == stage]
        for start in range(0, len(ids), 900):  # SQLite's limit on bound parameters
            connection.execute(
                update(t).where(t.c.id.in_(ids[start : start + 900]))
                .values(stage=stage, stage_since=day if stage else None, updated_at=now)
            )  # fmt: skip
    entered = [
        {"contact_id": contact_id, "stage": new, "previous": old, "entered_on": day,
         "created_at": now}
        for contact_id, old, new in changes if new is not None
    ]  # fmt: skip
    if entered:
        connection.execute(insert(events), entered)
    return [(e["contact_id"], e["stage"], day) for e in entered]
