"""Corp tags (企业客户标签) known to WeCom, cached with their ids."""

from __future__ import annotations

from sqlalchemy import delete, or_
from sqlmodel import Session, select

from store.db import insert
from store.models import CorpTag

T = CorpTag.__table__


def ids(session: Session, group_name: str, names: list[str]) -> dict[str, str]:
    """name → tag_id for the cached tags of a group."""
    if not names:
        return {}
    rows = session.exec(
        select(CorpTag).where(CorpTag.group_name == group_name, CorpTag.name.in_(names))
    )
    return {row.name: row.tag_id for row in rows}


def remember(session: Session, group_name: str, group_id: str, tags: dict[str, str]) -> None:
    """Cache name → tag_id for a group, replacing stale ids (a tag deleted and made again);
    safe when several workers cache the same new tag at once."""
    connection = session.connection()
    for name, tag_id in tags.items():
        connection.execute(
            delete(T).where(T.c.tag_id == tag_id, or_(T.c.group_name != group_name,
                                                       T.c.name != name))
        )  # fmt: skip
        values = {"group_name": group_name, "name": name, "group_id": group_id, "tag_id": tag_id}
        connection.execute(
            insert(connection, T)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["group_name", "name"],
                set_={"group_id": group_id, "tag_id": tag_id},
            )
        )


def forget_group(session: Session, group_name: str) -> None:
    for row in session.exec(select(CorpTag).where(CorpTag.group_name == group_name)):
        session.delete(row)
    session.flush()
