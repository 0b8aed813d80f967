"""Queries on contacts (mothers) and their funnel status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Row, insert, update
from sqlmodel import Session, func, select

from store import contact_tags, db, leads
from store.models import (
    Contact,
    ContactFollow,
    ContactStatus,
    ContactTag,
    LeadSource,
    StageEvent,
)


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
    new = contact is None
    if contact is None:
        contact = Contact(external_userid=external_userid, created_at=now)
    contact.owner_userid = owner_userid
    if channel_code or not contact.channel_code:
        contact.channel_code = channel_code
    contact.added_at = added_at
    contact.updated_at = now
    if new:
        leads.became_lead(session, contact, now, source=LeadSource.WECOM, actor=owner_userid)
    elif contact.status == ContactStatus.LOST:
        leads.change(session, contact, ContactStatus.NEW, now, source=LeadSource.WECOM,
                     actor=owner_userid, note="重新添加")  # fmt: skip
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
    if contact.status != ContactStatus.LOST:  # lost already: the reason given then stays
        leads.change(session, contact, ContactStatus.LOST, now, source=LeadSource.WECOM,
                     actor=userid, reason=reason)  # fmt: skip
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
        for part in db.parts(ids):
            connection.execute(
                update(t).where(t.c.id.in_(part))
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
    returns (new, updated, unchanged) entries: a customer's first entry is new, her other
    advisors' entries update her. The caller commits."""
    ids = list(dict.fromkeys(entry.external_userid for entry in page))
    known = {c.external_userid: c for c in
             session.exec(select(Contact).where(Contact.external_userid.in_(ids)))}  # fmt: skip
    fresh: dict[str, list[Existing]] = {}
    for entry in page:
        if entry.external_userid not in known:
            fresh.setdefault(entry.external_userid, []).append(entry)
    new = _insert_new(session.connection(), fresh, now)
    updated, unchanged = _update_known(session, [e for e in page if e.external_userid in known],
                                       known, now)  # fmt: skip
    return new, updated + sum(len(entries) - 1 for entries in fresh.values()), unchanged


def _insert_new(connection: Connection, fresh: dict[str, list[Existing]], now: datetime) -> int:
    """Customers mombot has never seen, in three statements (the bulk of a first sync); her
    owner is the advisor she added first."""
    if not fresh:
        return 0
    owners = {ext: min(entries, key=lambda e: e.added_at or now) for ext, entries in fresh.items()}
    t = Contact.__table__
    rows = [
        {"external_userid": ext, "name": e.name[:128], "avatar": e.avatar[:512],
         "gender": e.gender, "unionid": e.unionid[:64], "owner_userid": e.userid,
         "channel_code": e.channel, "status": ContactStatus.NEW, "trying_to_conceive": False,
         "opted_out": False, "added_at": e.added_at, "tags_read_at": now, "created_at": now,
         "updated_at": now}
        for ext, e in owners.items()
    ]  # fmt: skip
    new_ids = dict(connection.execute(insert(t).returning(t.c.external_userid, t.c.id), rows).all())
    connection.execute(insert(ContactFollow.__table__), [
        {"contact_id": new_ids[e.external_userid], "userid": e.userid, "remark": e.remark[:256],
         "state": e.state[:30], "added_at": e.added_at, "updated_at": now}
        for entries in fresh.values() for e in entries
    ])  # fmt: skip
    tags = [{"contact_id": new_ids[ext], "tag_id": tag_id, "name": name[:30],
             "group_name": group[:30], "added_at": now}
            for ext, e in owners.items() for tag_id, (name, group) in e.tags.items()]  # fmt: skip
    if tags:
        connection.execute(insert(ContactTag.__table__), tags)
    return len(fresh)


def _update_known(
    session: Session, page: list[Existing], known: dict[str, Contact], now: datetime
) -> tuple[int, int]:
    """Entries of customers mombot knows: (updated, unchanged)."""
    if not page:
        return 0, 0
    follows = {(f.contact_id, f.userid): f for f in session.exec(
        select(ContactFollow).where(ContactFollow.contact_id.in_([c.id for c in known.values()]))
    )}  # fmt: skip
    owner_tags: dict[int, dict[str, tuple[str, str]]] = {}
    changes: list[tuple[int, bool]] = []
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
            owner_tags[contact.id] = entry.tags
        changes.append((contact.id, changed))
    retagged = contact_tags.replace_many(session, owner_tags, now)
    session.flush()
    updated = sum(1 for contact_id, changed in changes if changed or contact_id in retagged)
    return updated, len(changes) - updated


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


def by_ids(session: Session, ids: Sequence[int]) -> dict[int, Contact]:
    """The contacts with these ids (the missing ones left out)."""
    found: dict[int, Contact] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        found.update((c.id, c) for c in session.exec(select(Contact).where(Contact.id.in_(chunk))))
    return found


def followers(session: Session, contact_id: int) -> set[str]:
    """The advisors who have her in WeCom, as WeCom last said."""
    query = select(ContactFollow.userid).where(ContactFollow.contact_id == contact_id)
    return set(session.exec(query))
