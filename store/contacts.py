"""Queries on contacts (mothers) and their funnel status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Row, insert, update
from sqlmodel import Session, func, select

from store import contact_tags
from store.models import Contact, ContactFollow, ContactStatus, StageEvent


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


@dataclass(frozen=True)
class Existing:
    """A customer of an advisor as WeCom lists her (batch/get_by_user), in plain values."""

    external_userid: str
    name: str
    avatar: str
    gender: int
    unionid: str
    userid: str  # the advisor of this entry (a mother with two advisors comes twice)
    remark: str
    state: str
    channel: str  # the channel code her state is, or ""
    added_at: datetime | None
    tags: dict[str, tuple[str, str]]  # tag id → (name, group name), as this advisor sees them


def record_existing(session: Session, page: list[Existing], now: datetime) -> tuple[int, int, int]:
    """Record a page of existing customers as a baseline (who follows her, her profile, her
    owner's tags), changing nothing mombot already knew better (owner, channel, status);
    returns (new, updated, unchanged) entries. The caller commits."""
    ids = list({entry.external_userid for entry in page})
    known = {c.external_userid: c for c in
             session.exec(select(Contact).where(Contact.external_userid.in_(ids)))}  # fmt: skip
    follows = {(f.contact_id, f.userid): f for f in session.exec(
        select(ContactFollow).where(ContactFollow.contact_id.in_([c.id for c in known.values()]))
    )}  # fmt: skip
    fresh = [entry for entry in page if entry.external_userid not in known]
    for entry in fresh:
        if entry.external_userid not in known:  # her second advisor's entry in the same page
            known[entry.external_userid] = Contact(
                external_userid=entry.external_userid, owner_userid=entry.userid,
                channel_code=entry.channel, added_at=entry.added_at, tags_read_at=now,
                created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(known[entry.external_userid])
    session.flush()
    new_ids = {id(known[entry.external_userid]) for entry in fresh}
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    for entry in page:
        contact = known[entry.external_userid]
        changed = _profile_from(contact, entry, now)
        owner = follows.get((contact.id, contact.owner_userid))
        if owner is not None and _earlier(entry.added_at, contact.added_at):
            # an owner from a baseline is the advisor she added first, in whatever order
            # WeCom lists her advisors (mombot's own adds have no follow row: they stay)
            contact.owner_userid, contact.added_at, changed = entry.userid, entry.added_at, True
        follow = follows.get((contact.id, entry.userid))
        if follow is None:
            follow = follows[(contact.id, entry.userid)] = ContactFollow(
                contact_id=contact.id, userid=entry.userid, updated_at=now)  # fmt: skip
        values = {"remark": entry.remark[:256], "state": entry.state[:30],
                  "added_at": entry.added_at}  # fmt: skip
        if any(getattr(follow, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(follow, k, v)
            follow.updated_at, changed = now, True
            session.add(follow)
        if entry.userid == contact.owner_userid:
            contact.tags_read_at = contact.tags_read_at or now
            added = contact_tags.update(session, contact.id, entry.tags, set(), now, replace=True)
            changed = changed or bool(added)
        kind = "new" if id(contact) in new_ids else "updated" if changed else "unchanged"
        counts[kind] += 1
        new_ids.discard(id(contact))  # her second advisor's entry is not a new customer
    session.flush()
    return counts["new"], counts["updated"], counts["unchanged"]


def _earlier(moment: datetime | None, than: datetime | None) -> bool:
    return moment is not None and than is not None and moment < than


def _profile_from(contact: Contact, entry: Existing, now: datetime) -> bool:
    """Profile from WeCom; owner and channel only where mombot had none. True if changed."""
    values = {"name": entry.name[:128], "avatar": entry.avatar[:512], "gender": entry.gender,
              "unionid": entry.unionid[:64]}  # fmt: skip
    if not contact.owner_userid:
        values["owner_userid"] = entry.userid
    if not contact.channel_code and entry.channel:
        values["channel_code"] = entry.channel
    if contact.added_at is None:
        values["added_at"] = entry.added_at
    changed = {k: v for k, v in values.items() if getattr(contact, k) != v}
    for k, v in changed.items():
        setattr(contact, k, v)
    if changed:
        contact.updated_at = now
    return bool(changed)
