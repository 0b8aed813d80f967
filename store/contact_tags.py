"""The corp tags each contact has in WeCom, as mombot last read or set them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, tuple_
from sqlmodel import Session, select

from store.models import ContactTag


def names(session: Session, contact_id: int) -> set[str]:
    return set(session.exec(select(ContactTag.name).where(ContactTag.contact_id == contact_id)))


def update(
    session: Session,
    contact_id: int,
    added: dict[str, tuple[str, str]],
    removed: set[str],
    now: datetime,
    replace: bool = False,
) -> list[str]:
    """Add tags (tag_id → (name, group name)) and drop tag ids; with replace, the tags are
    exactly `added` afterwards. Returns the names she did not have before."""
    rows = session.exec(select(ContactTag).where(ContactTag.contact_id == contact_id))
    have = {row.tag_id: row for row in rows}
    gone = set(have) - set(added) if replace else removed & set(have)
    if gone:
        session.exec(
            delete(ContactTag).where(
                ContactTag.contact_id == contact_id, ContactTag.tag_id.in_(gone)
            )
        )
    new = {tag_id: value for tag_id, value in added.items() if tag_id not in have}
    for tag_id, (name, group_name) in new.items():
        session.add(ContactTag(contact_id=contact_id, tag_id=tag_id, name=name[:30],
                               group_name=group_name[:30], added_at=now))  # fmt: skip
    session.flush()
    return [name for name, _group in new.values()]


def replace_many(
    session: Session, tags: dict[int, dict[str, tuple[str, str]]], now: datetime
) -> set[int]:
    """For many contacts at once: their tags become exactly these (contact id → tag id →
    (name, group name)). Returns the contacts whose tags changed."""
    if not tags:
        return set()
    have: dict[int, set[str]] = defaultdict(set)
    query = select(ContactTag.contact_id, ContactTag.tag_id).where(
        ContactTag.contact_id.in_(list(tags))
    )
    for contact_id, tag_id in session.exec(query):
        have[contact_id].add(tag_id)
    changed, gone = set(), []
    for contact_id, wanted in tags.items():
        removed, added = have[contact_id] - set(wanted), set(wanted) - have[contact_id]
        if removed or added:
            changed.add(contact_id)
        gone += [(contact_id, tag_id) for tag_id in removed]
        for tag_id in added:
            name, group_name = wanted[tag_id]
            session.add(ContactTag(contact_id=contact_id, tag_id=tag_id, name=name[:30],
                                   group_name=group_name[:30], added_at=now))  # fmt: skip
    if gone:
        session.exec(delete(ContactTag).where(tuple_(ContactTag.contact_id, ContactTag.tag_id)
                                              .in_(gone)))  # fmt: skip
    session.flush()
    return changed
