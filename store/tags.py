"""Corp tags (企业客户标签) known to WeCom, cached with their ids."""

from __future__ import annotations

from sqlmodel import Session, select

from store.models import CorpTag


def ids(session: Session, group_name: str, names: list[str]) -> dict[str, str]:
    """name → tag_id for the cached tags of a group."""
    if not names:
        return {}
    rows = session.exec(
        select(CorpTag).where(CorpTag.group_name == group_name, CorpTag.name.in_(names))
    )
    return {row.name: row.tag_id for row in rows}


def remember(session: Session, group_name: str, group_id: str, tags: dict[str, str]) -> None:
    """Cache name → tag_id for a group, replacing stale ids (a tag deleted and made again)."""
    existing = {
        row.name: row
        for row in session.exec(select(CorpTag).where(CorpTag.group_name == group_name))
    }
    for name, tag_id in tags.items():
        row = existing.get(name)
        if row is None:
            stale = session.exec(select(CorpTag).where(CorpTag.tag_id == tag_id)).first()
            if stale is not None:
                session.delete(stale)
                session.flush()
            row = CorpTag(group_name=group_name, name=name, group_id=group_id, tag_id=tag_id)
        row.group_id, row.tag_id = group_id, tag_id
        session.add(row)
    session.flush()


def forget_group(session: Session, group_name: str) -> None:
    for row in session.exec(select(CorpTag).where(CorpTag.group_name == group_name)):
        session.delete(row)
    session.flush()
