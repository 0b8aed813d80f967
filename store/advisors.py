"""Advisors' display names, cached from WeCom's user/get."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlmodel import Session, select

from store.db import insert
from store.models import Advisor

T = Advisor.__table__
FRESH_FOR = timedelta(days=1)


def cached_name(session: Session, userid: str, now: datetime) -> str | None:
    advisor = session.exec(select(Advisor).where(Advisor.userid == userid)).first()
    if advisor is None or now - advisor.updated_at > FRESH_FOR:
        return None
    return advisor.name


def remember(session: Session, userid: str, name: str, now: datetime) -> None:
    """Cache a name; two workers remembering the same advisor at once is fine (upsert)."""
    connection = session.connection()
    statement = insert(connection, T).values(userid=userid, name=name, updated_at=now)
    connection.execute(statement.on_conflict_do_update(
        index_elements=["userid"], set_={"name": name, "updated_at": now}))  # fmt: skip


def names(connection: Connection) -> dict[str, str]:
    """Every advisor's name as last cached (userid → name), however old."""
    return dict(connection.execute(select(Advisor.userid, Advisor.name)).all())
