"""Customer groups (客户群) and who is in them, from groupchat/get."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Row
from sqlmodel import Session, select

from store.models import Contact, CustomerGroup, GroupMember

CUSTOMER = 2  # member type in groupchat/get (1: staff)


def get(session: Session, chat_id: str) -> CustomerGroup | None:
    return session.exec(select(CustomerGroup).where(CustomerGroup.chat_id == chat_id)).first()


def _moment(timestamp: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(timestamp), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def record(
    session: Session, info: dict, now: datetime, joins_since: datetime | None
) -> tuple[CustomerGroup, list[tuple[str, datetime]]]:
    """Store a group as groupchat/get describes it; returns it and the customers who joined:
    for a group already known, everyone not in it before; for a group seen for the first time,
    those who joined at or after `joins_since` (None: nobody, as when syncing)."""
    chat_id = info["chat_id"]
    group = get(session, chat_id)
    known = group is not None
    if group is None:
        group = CustomerGroup(chat_id=chat_id, synced_at=now)
    listed = info.get("member_list", [])
    group.name = str(info.get("name", ""))[:128]
    group.owner_userid = str(info.get("owner", ""))[:64]
    group.created_in_wecom = _moment(info.get("create_time"))
    group.dismissed, group.synced_at = False, now
    group.members = len(listed)
    group.customers = sum(1 for m in listed if m.get("type") == CUSTOMER)
    session.add(group)
    rows = {row.member_id: row for row in
            session.exec(select(GroupMember).where(GroupMember.chat_id == chat_id))}  # fmt: skip
    joins: list[tuple[str, datetime]] = []
    present = set()
    for member in listed:
        member_id = str(member.get("userid", ""))[:64]
        present.add(member_id)
        stamped = _moment(member.get("join_time"))
        joined_at = stamped or now
        row = rows.get(member_id)
        rejoined = row is not None and stamped is not None and row.joined_at != stamped
        new = row is None or row.left_at is not None or rejoined
        if row is None:
            row = GroupMember(chat_id=chat_id, member_id=member_id)
        row.type, row.name = int(member.get("type", CUSTOMER)), str(member.get("name", ""))[:128]
        if new:
            row.joined_at, row.left_at = joined_at, None
            row.join_scene = int(member.get("join_scene", 0))
            counts = known or (joins_since is not None and joined_at >= joins_since)
            if row.type == CUSTOMER and counts:
                joins.append((member_id, joined_at))
        session.add(row)
    for member_id, row in rows.items():
        if member_id not in present and row.left_at is None:
            row.left_at = now
            session.add(row)
    session.flush()
    return group, joins


def dismiss(session: Session, chat_id: str, now: datetime) -> CustomerGroup | None:
    group = get(session, chat_id)
    if group is None or group.dismissed:
        return None
    group.dismissed, group.synced_at = True, now
    session.add(group)
    session.flush()
    return group


def mark_gone(session: Session, listed: set[str], now: datetime) -> int:
    """Groups WeCom no longer lists are dismissed; returns how many."""
    gone = [g for g in session.exec(select(CustomerGroup).where(CustomerGroup.dismissed == False))  # noqa: E712
            if g.chat_id not in listed]  # fmt: skip
    for group in gone:
        group.dismissed, group.synced_at = True, now
        session.add(group)
    session.flush()
    return len(gone)


def member_names(session: Session, chat_id: str, member_ids: list[str]) -> list[str]:
    rows = session.exec(
        select(GroupMember.member_id, GroupMember.name)
        .where(GroupMember.chat_id == chat_id, GroupMember.member_id.in_(member_ids))
    ).all()  # fmt: skip
    names = dict(rows)
    return [names.get(member_id) or "新朋友" for member_id in member_ids]


def listing(session: Session) -> list[CustomerGroup]:
    return list(session.exec(select(CustomerGroup).order_by(CustomerGroup.dismissed,
                                                            CustomerGroup.name)))  # fmt: skip


def active(connection: Connection, chat_id: str | None = None) -> Sequence[Row]:
    """(chat_id, name, owner_userid) of groups not dismissed (or of one of them)."""
    g = CustomerGroup.__table__
    query = select(g.c.chat_id, g.c.name, g.c.owner_userid).where(g.c.dismissed.is_(False))
    if chat_id is not None:
        query = query.where(g.c.chat_id == chat_id)
    return connection.execute(query).all()


def by_chat_ids(session: Session, chat_ids: Sequence[str]) -> dict[str, CustomerGroup]:
    """The groups with these chat ids (the unknown ones left out)."""
    found: dict[str, CustomerGroup] = {}
    for start in range(0, len(chat_ids), 500):
        chunk = list(chat_ids[start : start + 500])
        query = select(CustomerGroup).where(CustomerGroup.chat_id.in_(chunk))
        found.update((g.chat_id, g) for g in session.exec(query))
    return found


def present_customers(connection: Connection, chat_id: str) -> list[Row]:
    """The customers in the group now, with what mombot knows of each (newest joiner first)."""
    m, c = GroupMember.__table__, Contact.__table__
    return list(connection.execute(
        select(m.c.member_id, m.c.name, m.c.joined_at, c.c.id, c.c.name.label("contact_name"),
               c.c.stage, c.c.due_date, c.c.baby_birthday, c.c.owner_userid)
        .select_from(m.outerjoin(c, c.c.external_userid == m.c.member_id))
        .where(m.c.chat_id == chat_id, m.c.type == 2, m.c.left_at.is_(None))
        .order_by(m.c.joined_at.desc())
    ))  # fmt: skip
